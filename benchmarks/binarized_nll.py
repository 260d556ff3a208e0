"""PixelCNN's exact NLL beside the VAE's importance-weighted NLL on binarized digits, at equal CPU budget: one
command, one JSON.

    python benchmarks/binarized_nll.py [--budget-minutes 1] [--seeds 0,1] [--k 5000]

Both models train on dynamically binarized digits (``binarize: dynamic``, zoo/data/binarize.py) with their
recipes' nets and optimizers (recipes/pixelcnn/digits.yaml; recipes/vae/digits.yaml with the same Bernoulli
decoder, now on binary pixels) for the same CPU time on one thread (zoo.callbacks.CPUBudget), then are scored
on the same static binarized test split (fixed seed, sha256 recorded): PixelCNN by its exact log-likelihood,
the VAE by the importance-weighted estimate with K samples (Burda et al. 2016; a lower bound on log p(x), so
its NLL is an upper bound on the VAE's true NLL) and by its ELBO. Every number is in nats per image with its
standard error over the test images and its protocol. Writes ``benchmarks/results/binarized-digits.json``.
The paper's ordering (van den Oord et al. 2016, Table 4 on binarized MNIST) puts autoregressive models below
(better than) VAE bounds; the JSON says which way it falls here.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.callbacks import CPUBudget  # noqa: E402
from zoo.data import DigitsDataModule  # noqa: E402
from zoo.data.binarize import STATIC_SEED  # noqa: E402
from zoo.distributions import bits_per_dim  # noqa: E402
from zoo.paths import write_json  # noqa: E402

#: the recipes' models (recipes/pixelcnn/digits.yaml, recipes/vae/digits.yaml), Adam 1e-3 both
MODELS: dict[str, dict[str, Any]] = {
    "pixelcnn": {"levels": 2, "h": 16, "n_blocks": 4, "output_hidden": 32},
    "vae": {
        "latent_dim": 8,
        "likelihood": "bernoulli",
        "encoder": {"class_path": "zoo.nets.MLPEncoder", "init_args": {"hidden": [256, 128]}},
        "decoder": {"class_path": "zoo.nets.MLPDecoder", "init_args": {"hidden": [128, 256]}},
    },
}
BATCH_SIZE = 100  # both recipes'
OUT = ROOT / "benchmarks" / "results" / "binarized-digits.json"


def summary(log_px: torch.Tensor) -> dict[str, float]:
    nll = -log_px.double()
    mean = nll.mean().item()
    std_err = (nll.std() / math.sqrt(len(nll))).item()
    return {"nll": mean, "std_err": std_err, "bits_per_dim": float(bits_per_dim(mean, 64))}


def run(name: str, seed: int, budget_minutes: float, k: int, x: torch.Tensor) -> dict[str, Any]:
    L.seed_everything(seed, verbose=False)
    model = zoo.create_model(name, in_shape=(1, 8, 8), **MODELS[name])
    budget = CPUBudget(minutes=budget_minutes, threads=1)
    trainer = L.Trainer(accelerator="cpu", max_epochs=100_000, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[budget])
    trainer.fit(model, DigitsDataModule(batch_size=BATCH_SIZE, binarize="dynamic", seed=seed))
    model.eval()
    record: dict[str, Any] = {"method": name, "seed": seed, "epochs": trainer.current_epoch,
                              "steps": trainer.global_step, "train_cpu_s": round(budget.used_s, 1)}
    torch.set_num_threads(1)
    start = time.process_time()
    if name == "pixelcnn":
        record["exact"] = {**summary(model.log_likelihood(x)), "estimator": "exact", "k": None}
    else:
        generator = torch.Generator().manual_seed(seed)
        iw = model.log_likelihood(x, k=k, batch_size=65536, generator=generator)
        record["importance_weighted"] = {**summary(iw), "estimator": "importance_weighted", "k": k}
        with torch.no_grad():  # one-sample ELBO averaged over 100 draws per image
            elbo = torch.stack([model.elbo(x, generator=generator) for _ in range(100)]).mean(0)
        record["elbo"] = {**summary(elbo), "estimator": "elbo (one-sample, mean of 100 draws)", "k": None}
    record["eval_cpu_s"] = round(time.process_time() - start, 1)
    print(record, flush=True)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=1.0, help="CPU minutes of training per run")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the VAE's estimate")
    parser.add_argument("--out", default=str(OUT))
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)
    datamodule = DigitsDataModule()
    static, sha256 = datamodule.static_binarization("test")
    x = static.images.float() / 255  # (360, 1, 8, 8) of 0.0 / 1.0
    runs = [run(name, int(seed), opts.budget_minutes, opts.k, x)
            for seed in opts.seeds.split(",") for name in MODELS]
    by_method = {name: [r for r in runs if r["method"] == name] for name in MODELS}
    pixelcnn = sum(r["exact"]["nll"] for r in by_method["pixelcnn"]) / len(by_method["pixelcnn"])
    vae = sum(r["importance_weighted"]["nll"] for r in by_method["vae"]) / len(by_method["vae"])
    result = {
        "task": "likelihood",
        "dataset": "digits",
        "protocol": {
            "data": {"kind": "binarized", "train": "dynamic (re-drawn per epoch, seeded)",
                     "test": "static", "static_seed": STATIC_SEED, "sha256": sha256},
            "split": "test", "n": len(x), "unit": "nats per image; bits_per_dim = nll / (64 ln 2)",
            "budget": {"cpu_minutes_per_run": opts.budget_minutes, "threads": 1, "batch_size": BATCH_SIZE},
            "std_err": "standard deviation of the per-image NLL over sqrt(n)",
        },
        "models": MODELS,
        "runs": runs,
        "mean_over_seeds": {"pixelcnn_exact_nll": pixelcnn, f"vae_iw_nll_k{opts.k}": vae},
        "ordering": "pixelcnn better (lower NLL) than vae" if pixelcnn < vae else "vae better than pixelcnn",
    }
    write_json(opts.out, result)
    print(f"wrote {opts.out}: PixelCNN {pixelcnn:.2f} vs VAE {vae:.2f} nats")


if __name__ == "__main__":
    main()
