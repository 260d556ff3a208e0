"""The autoregressive models' exact NLL beside the VAE's importance-weighted NLL, on binarized or on n-level
images, every model trained for the same CPU time: one command, one JSON.

    python benchmarks/likelihood.py [--dataset digits] [--budget-minutes 2] [--seeds 0,1] [--k 5000]
    python benchmarks/likelihood.py --dataset fashion_mnist --budget-minutes 5 --n-test 1000 --k 1000
    python benchmarks/likelihood.py --data n-level --dataset fashion_mnist ...   # 8-bit: 256 levels, bits/dim

Every model is its recipe's (``recipes/<method>/<dataset>.yaml``: the net, Adam 1e-3 and the batch size,
which all five recipes share per dataset; the VAE with its Bernoulli decoder, now on binary pixels), trained on
dynamically binarized images (``binarize: dynamic``, zoo/data/binarize.py) for the same CPU time on one thread
(zoo.callbacks.CPUBudget), then scored on the same static binarized test split (fixed seed, sha256 recorded):
the autoregressive models by their exact log-likelihood, the VAE by the importance-weighted estimate with K
samples (Burda et al. 2016; a lower bound on log p(x), so its NLL is an upper bound on the VAE's true NLL)
and by its ELBO. Every number is in nats per image with its standard error over the test images. Writes
``benchmarks/results/<data>-<dataset>.json`` with the papers' orderings and whether each holds here.

``--data n-level`` is the discrete protocol for grey levels (256 for 8-bit Fashion-MNIST, 17 for the digits):
the images as they are (no binarization), the autoregressive models with a softmax over the levels
(``levels``), the VAE with a discretized logistic p(x|z) (``likelihood: discretized_logistic``, Salimans et al.
2017), so every number is a log-probability of the same discrete test images; reported in nats and in
bits/dim = nll / (C * H * W * ln 2). The orderings:

- PixelCNN below (better than) the VAE (van den Oord et al. 2016, arXiv:1601.06759, Table 4: 81.30 nats
  against VAE bounds of 86-87 on binarized MNIST);
- Gated PixelCNN below PixelCNN (arXiv:1606.05328, Table 1, in bits/dim on CIFAR-10 and ImageNet);
- Diagonal BiLSTM below Row LSTM below PixelCNN (arXiv:1601.06759: on binarized MNIST, Table 4, 79.20
  (7 layers) < 80.54 < 81.30 nats; on CIFAR-10, Table 5, 3.00 < 3.07 < 3.14 bits/dim).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.callbacks import CPUBudget  # noqa: E402
from zoo.data import DigitsDataModule, FashionMNISTDataModule  # noqa: E402
from zoo.data.binarize import STATIC_SEED  # noqa: E402
from zoo.distributions import bits_per_dim  # noqa: E402
from zoo.paths import write_json  # noqa: E402

AUTOREGRESSIVE = ("pixelcnn", "gated_pixelcnn", "row_lstm", "diagonal_bilstm")
METHODS = (*AUTOREGRESSIVE, "vae")
DATASETS = {"digits": ((1, 8, 8), DigitsDataModule), "fashion_mnist": ((1, 28, 28), FashionMNISTDataModule)}
#: (better, worse): the papers' claims, each checked on the mean over seeds
ORDERINGS = (("pixelcnn", "vae"), ("gated_pixelcnn", "pixelcnn"), ("diagonal_bilstm", "row_lstm"),
             ("row_lstm", "pixelcnn"), ("diagonal_bilstm", "pixelcnn"))


def recipe(method: str, dataset: str) -> tuple[dict[str, Any], int]:
    """The recipe's model arguments (without the optimizer: each is Adam 1e-3, checked) and batch size."""
    config = yaml.safe_load((ROOT / "recipes" / method / f"{dataset}.yaml").read_text())
    args = dict(config["model"]["init_args"])
    optimizer = args.pop("optimizer", None)
    if optimizer != {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.001}} or "lr_scheduler" in args:
        raise SystemExit(f"recipes/{method}/{dataset}.yaml: expected Adam(lr=1e-3) and no scheduler (the models' "
                         f"default, which this benchmark uses), got {optimizer}")
    return args, int(config["data"]["init_args"]["batch_size"])


def summary(log_px: torch.Tensor, num_dims: int) -> dict[str, float]:
    nll = -log_px.double()
    mean = nll.mean().item()
    std_err = (nll.std() / math.sqrt(len(nll))).item()
    return {"nll": mean, "std_err": std_err, "bits_per_dim": float(bits_per_dim(mean, num_dims))}


#: the grey levels of each dataset's pixels (the n-level protocol)
LEVELS = {"digits": 17, "fashion_mnist": 256}


def model_args(name: str, dataset: str, data: str) -> tuple[dict[str, Any], int]:
    """The recipe's model arguments for the protocol's data, and its batch size."""
    args, batch_size = recipe(name, dataset)
    if data == "n-level":
        if name in AUTOREGRESSIVE:
            args["levels"] = LEVELS[dataset]
        else:
            args.update(likelihood="discretized_logistic", levels=LEVELS[dataset])
    return args, batch_size


def run(name: str, dataset: str, data: str, seed: int, budget_minutes: float, k: int,
        x: torch.Tensor) -> dict[str, Any]:
    L.seed_everything(seed, verbose=False)
    shape, datamodule_class = DATASETS[dataset]
    args, batch_size = model_args(name, dataset, data)
    model = zoo.create_model(name, in_shape=shape, **args)
    budget = CPUBudget(minutes=budget_minutes, threads=1)
    trainer = L.Trainer(accelerator="cpu", max_epochs=100_000, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[budget])
    binarize = "dynamic" if data == "binarized" else None
    trainer.fit(model, datamodule_class(batch_size=batch_size, binarize=binarize, seed=seed))
    model.eval()
    record: dict[str, Any] = {"method": name, "seed": seed, "epochs": trainer.current_epoch,
                              "steps": trainer.global_step, "train_cpu_s": round(budget.used_s, 1),
                              "parameters": sum(p.numel() for p in model.parameters())}
    torch.set_num_threads(1)
    start = time.process_time()
    num_dims = math.prod(shape)
    if name in AUTOREGRESSIVE:
        record["exact"] = {**summary(model.log_likelihood(x, batch_size=500), num_dims), "estimator": "exact",
                           "k": None}
    else:
        generator = torch.Generator().manual_seed(seed)
        iw = torch.cat([model.log_likelihood(xb, k=k, batch_size=65536, generator=generator) for xb in x.split(50)])
        record["importance_weighted"] = {**summary(iw, num_dims), "estimator": "importance_weighted", "k": k}
        with torch.no_grad():  # one-sample ELBO averaged over 100 draws per image
            elbo = torch.stack([model.elbo(x, generator=generator) for _ in range(100)]).mean(0)
        record["elbo"] = {**summary(elbo, num_dims), "estimator": "elbo (one-sample, mean of 100 draws)", "k": None}
    record["eval_cpu_s"] = round(time.process_time() - start, 1)
    print(record, flush=True)
    return record


def nll_of(record: dict[str, Any]) -> float:
    return (record.get("exact") or record["importance_weighted"])["nll"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--data", choices=("binarized", "n-level"), default="binarized",
                        help="binarized (static test bits) or n-level (the grey levels as they are)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--budget-minutes", type=float, default=2.0, help="CPU minutes of training per run")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the VAE's estimate")
    parser.add_argument("--n-test", type=int, default=None, help="first n static binarized test images (all)")
    parser.add_argument("--out", default=None, help="default benchmarks/results/<data>-<dataset>.json")
    opts = parser.parse_args(argv)
    methods = [m for m in opts.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"likelihood: unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    shape, datamodule_class = DATASETS[opts.dataset]
    datamodule = datamodule_class()
    datamodule.prepare_data()  # finds (or downloads) the files: on a fresh machine nothing has yet
    if opts.data == "binarized":
        static, sha256 = datamodule.static_binarization("test")
        x = static.images.float() / 255  # (n, 1, H, W) of 0.0 / 1.0
        data_protocol = {"kind": "binarized", "train": "dynamic (re-drawn per epoch, seeded)", "test": "static",
                         "static_seed": STATIC_SEED, "sha256": sha256}
    else:
        images, _ = datamodule.load_tensors(train=False)
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        data_protocol = {"kind": "n-level", "levels": LEVELS[opts.dataset], "train": "the grey levels as they are",
                         "test": "the grey levels as they are"}
    x = x if opts.n_test is None else x[: opts.n_test]
    seeds = [int(s) for s in opts.seeds.split(",")]
    runs = [run(name, opts.dataset, opts.data, seed, opts.budget_minutes, opts.k, x)
            for seed in seeds for name in methods]
    mean = {name: sum(nll_of(r) for r in runs if r["method"] == name) / len(seeds) for name in methods}
    orderings = [
        {"claim": f"{better} below {worse}", "holds": mean[better] < mean[worse],
         "difference_nats": mean[better] - mean[worse]}
        for better, worse in ORDERINGS if better in mean and worse in mean
    ]
    result = {
        "task": "likelihood",
        "dataset": opts.dataset,
        "protocol": {
            "data": data_protocol,
            "split": "test", "n": len(x), "unit": f"nats per image; bits_per_dim = nll / ({math.prod(shape)} ln 2)",
            "budget": {"cpu_minutes_per_run": opts.budget_minutes, "threads": 1},
            "estimators": {"autoregressive": "exact", "vae": f"importance_weighted, K={opts.k}"
                           + (", discretized logistic p(x|z)" if opts.data == "n-level" else ", Bernoulli p(x|z)")},
            "std_err": "standard deviation of the per-image NLL over sqrt(n)",
        },
        "models": {name: {**model_args(name, opts.dataset, opts.data)[0],
                          "recipe": f"recipes/{name}/{opts.dataset}.yaml"} for name in methods},
        "runs": runs,
        "mean_over_seeds": mean,
        "orderings": orderings,
    }
    out = opts.out or ROOT / "benchmarks" / "results" / f"{opts.data}-{opts.dataset}.json"
    write_json(out, result)
    num_dims = math.prod(shape)
    print(f"wrote {out}: " + ", ".join(f"{name} {value:.2f} ({float(bits_per_dim(value, num_dims)):.3f} bits/dim)"
                                       for name, value in sorted(mean.items(), key=lambda kv: kv[1])))
    for ordering in orderings:
        print(f"  {ordering['claim']}: {'holds' if ordering['holds'] else 'does not hold'} "
              f"({ordering['difference_nats']:+.2f} nats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
