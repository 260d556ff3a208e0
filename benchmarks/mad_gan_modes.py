"""Which classes each MAD-GAN generator draws: per-generator class histograms from the dataset's domain classifier.

    python benchmarks/mad_gan_modes.py --weights mad_gan.fashion_mnist \
        --out benchmarks/results/fashion_mnist/mad_gan_modes
    python benchmarks/mad_gan_modes.py --weights mad_gan.digits --out benchmarks/results/digits/mad_gan_modes

Writes ``<out>.json`` (the histograms, (k, classes), and the protocol) and ``<out>.png`` (one bar chart per
generator, plus a row of samples from each); zoo/metrics/modes.py computes the histograms. Generators that capture
different modes (Ghosh et al. 2018, arXiv:1704.02906) have different histograms; the JSON also records the total
variation distance between every pair of generators (0: the same classes, 1: disjoint ones).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import zoo
from zoo.metrics.extractors import get_extractor
from zoo.metrics.modes import generator_class_histograms

EXTRACTORS = {(1, 8, 8): "digits_cls", (1, 28, 28): "fmnist_cls"}
CLASS_NAMES = {
    "digits_cls": [str(i) for i in range(10)],
    "fmnist_cls": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="a pretrained name (mad_gan.digits) or a checkpoint path")
    parser.add_argument("--out", required=True, type=Path, help="output path without extension")
    parser.add_argument("--n", type=int, default=1000, help="samples per generator")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = zoo.load(args.weights)
    extractor_name = EXTRACTORS.get(tuple(model.in_shape))
    if extractor_name is None:
        print(f"mad_gan_modes: no domain classifier for images of shape {tuple(model.in_shape)}; one of "
              f"{list(EXTRACTORS)}", file=sys.stderr)
        return 2
    histograms = generator_class_histograms(model, get_extractor(extractor_name), n=args.n, seed=args.seed)
    k = len(histograms)
    distance = [[0.5 * float((histograms[i] - histograms[j]).abs().sum()) for j in range(k)] for i in range(k)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"weights": args.weights, "extractor": extractor_name, "n_per_generator": args.n, "seed": args.seed,
              "classes": CLASS_NAMES[extractor_name], "histograms": histograms.tolist(),
              "total_variation": distance}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    plot(model, histograms, CLASS_NAMES[extractor_name], args.out.with_suffix(".png"), seed=args.seed)
    for i, row in enumerate(histograms):
        top = row.argsort(descending=True)[:3]
        print(f"generator {i}: " + ", ".join(f"{CLASS_NAMES[extractor_name][c]} {row[c]:.0%}" for c in top))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")
    return 0


def plot(model, histograms: torch.Tensor, classes: list[str], path: Path, *, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(histograms)
    figure, axes = plt.subplots(2, k, figsize=(3.2 * k, 5.0), gridspec_kw={"height_ratios": [2, 1]}, squeeze=False)
    for i in range(k):
        axes[0][i].bar(range(len(classes)), histograms[i].numpy(), color=f"C{i}")
        axes[0][i].set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        axes[0][i].set_ylim(0, 1)
        axes[0][i].set_title(f"generator {i}")
        samples = model.sample(8, generator=torch.Generator().manual_seed(seed + 100 + i), generator_index=i)
        strip = torch.cat(list(samples[:, 0]), dim=1)  # (H, 8 W)
        axes[1][i].imshow(strip.numpy(), cmap="gray", vmin=0, vmax=1)
        axes[1][i].axis("off")
    axes[0][0].set_ylabel("share of samples")
    figure.suptitle("MAD-GAN: domain classifier's classes per generator")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
