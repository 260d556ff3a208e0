"""Where the adversarial autoencoder puts the test images' codes: 2-D scatter plots against each prior.

    python benchmarks/aae_codes.py                     # digits, 100 epochs per model, seed 0 (a few CPU-minutes)
    python benchmarks/aae_codes.py --dataset fashion_mnist --epochs 3

Trains, with the nets of ``recipes/aae/<dataset>.yaml`` and a 2-D code: a plain autoencoder (the same encoder and
decoder, no regulariser), and the AAE with each prior of the paper's Fig. 4 (``gaussian``, ``mixture`` of 10
Gaussians, ``swiss_roll``), the last two also label-conditioned (Makhzani et al. 2016, Sec. 2.3). For each,
the test split's codes are compared with as many prior draws (seed 0) by MMD^2_u (zoo/metrics/two_sample.py;
the plain AE against N(0, I)) and, for the labelled priors, the share of test codes that fall in their own
class's component (mixture: the nearest component's angle; swiss roll: the segment of t = (r / 3)^2).

Writes ``<out>.json`` (the numbers and the protocol) and ``<out>.png`` (one panel per model: prior draws in
grey, test codes coloured by class).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

import zoo
from zoo.data import DigitsDataModule, FashionMNISTDataModule
from zoo.distributions import SWISS_ROLL_RADIUS
from zoo.metrics.two_sample import mmd2_unbiased

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"digits": ((1, 8, 8), DigitsDataModule), "fashion_mnist": ((1, 28, 28), FashionMNISTDataModule)}
#: panel name -> (method, AAE settings)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain AE": ("ae", {}),
    "AAE, gaussian": ("aae", {"prior": "gaussian"}),
    "AAE, mixture": ("aae", {"prior": "mixture"}),
    "AAE, mixture, labels": ("aae", {"prior": "mixture", "label_conditioned": True}),
    "AAE, swiss roll": ("aae", {"prior": "swiss_roll"}),
    "AAE, swiss roll, labels": ("aae", {"prior": "swiss_roll", "label_conditioned": True}),
}


def component_of(z: torch.Tensor, prior: str, components: int = 10) -> torch.Tensor:
    """The prior component (mixture) or segment (swiss roll) each 2-D code z (N, 2) falls in."""
    if prior == "mixture":
        return torch.round(torch.atan2(z[:, 1], z[:, 0]) / (2 * math.pi / components)).long() % components
    t = (z.norm(dim=1) / SWISS_ROLL_RADIUS).pow(2).clamp(0, 1 - 1e-6)
    return (t * components).long()


def train(method: str, settings: dict[str, Any], dataset: str, epochs: int, seed: int) -> tuple[Any, float]:
    config = yaml.safe_load((ROOT / "recipes" / "aae" / f"{dataset}.yaml").read_text())
    nets = {k: v for k, v in config["model"]["init_args"].items() if k in ("encoder", "decoder", "discriminator")}
    if method == "ae":
        nets.pop("discriminator")
    shape, datamodule = DATASETS[dataset]
    L.seed_everything(seed, verbose=False)
    model = zoo.create_model(method, in_shape=shape, latent_dim=2, **nets, **settings,
                             **({"num_classes": 10} if method == "aae" else {}))
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    start = time.process_time()
    trainer.fit(model, datamodule(batch_size=int(config["data"]["init_args"]["batch_size"])))
    return model.eval(), time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="digits")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=2000, help="first n test images (all when fewer)")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<dataset>/aae_codes")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.n_test < 2:
        parser.error(f"--epochs must be >= 1 and --n-test >= 2, got {args.epochs} and {args.n_test}")
    out = args.out or ROOT / "benchmarks" / "results" / args.dataset / "aae_codes"
    torch.set_num_threads(1)
    shape, datamodule_class = DATASETS[args.dataset]
    datamodule = datamodule_class(batch_size=1000)
    datamodule.prepare_data()
    datamodule.setup("test")
    batches = list(datamodule.test_dataloader())
    x = torch.cat([b[0] for b in batches])[:args.n_test]
    y = torch.cat([b[1] for b in batches])[:args.n_test]
    results, panels = {}, {}
    for name, (method, settings) in MODELS.items():
        model, cpu_s = train(method, settings, args.dataset, args.epochs, args.seed)
        with torch.no_grad():
            z = model.encode(x).float()
        g = torch.Generator().manual_seed(0)
        prior = model.sample_prior(len(x), generator=g) if method == "aae" else torch.randn(len(x), 2, generator=g)
        record: dict[str, Any] = {"method": method, **settings, "train_cpu_s": round(cpu_s, 1),
                                  "mmd2_to_prior": mmd2_unbiased(z, prior.float())}
        if settings.get("label_conditioned"):
            record["codes_in_own_class_component"] = float((component_of(z, settings["prior"]) == y).float().mean())
        results[name] = record
        panels[name] = (z, prior)
        print(name, {k: v for k, v in record.items() if k not in ("method",)}, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    protocol = {"dataset": args.dataset, "split": "test", "n": len(x), "epochs": args.epochs, "seed": args.seed,
                "latent_dim": 2, "nets": f"recipes/aae/{args.dataset}.yaml", "prior_draws_seed": 0,
                "statistic": "unbiased MMD^2, zoo/metrics/two_sample.py (the plain AE against N(0, I))"}
    out.with_suffix(".json").write_text(json.dumps({"protocol": protocol, "results": results}, indent=2) + "\n")
    plot(panels, y, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


def plot(panels: dict[str, tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 8))
    for ax, (name, (z, prior)) in zip(axes.flat, panels.items()):
        ax.scatter(prior[:, 0], prior[:, 1], s=2, c="0.8", label="prior draws")
        points = ax.scatter(z[:, 0], z[:, 1], s=3, c=y, cmap="tab10", vmin=-0.5, vmax=9.5)
        ax.set_title(name)
        ax.set_aspect("equal", "datalim")
    fig.colorbar(points, ax=axes, ticks=range(10), label="class")
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
