"""``zoo evaluate``: score a model under one pinned, recorded protocol.

    zoo evaluate <pretrained-name|run.ckpt|file.safetensors> --data digits --metrics fid,kid,is,pr,nll \\
        --n-fake 10000 [--extractor digits_cls] [--split train] [--seed 0] [--out results.json]

Sample quality (``fid``, ``kid``, ``is``, ``pr``) compares ``n_fake`` samples of the model (drawn with a
generator seeded by ``seed``) with the real images of ``split`` (``train`` by default, the official training
split, as FID is usually reported; ``n_real`` images, all by default) through one feature extractor: the
dataset's domain classifier when one is registered (``digits_cls``, ``fmnist_cls``), else Inception.
``nll`` is the model's negative log-likelihood (``log_likelihood(x, k=K)``; K = 5000 importance samples by
default, for the models whose estimate uses them) on ``nll_split`` (``test``), in nats per image, with
bits/dim; the protocol names the estimator (the model's ``likelihood_kind``) and the data it is a
log-probability of (the model's ``likelihood_data``): a model of binary pixels (a Bernoulli decoder, a 2-level
PixelCNN) is scored on the split's static seeded binarization (its sha256 recorded), an n-level model on the
images themselves (it refuses pixels off its grid). Models without the
``likelihood`` capability (zoo/capabilities.py) are refused, as are models without ``sample`` for the sample
metrics.

The real images' extractor outputs are cached under ``$ZOO_HOME/cache/real_features``, keyed by the
dataset (class and arguments), the split, n_real and the extractor's sha256, so repeated evaluations
extract them once. The result JSON holds every number and the protocol it was measured under: split,
n_real, n_fake, extractor name and sha256, resize, seed, batch size, KID/IS/PR settings, package
versions and the git commit of zoo (null outside a git checkout).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from zoo.capabilities import CONDITIONAL, ENCODE, LIKELIHOOD, LIKELIHOOD_KINDS, SAMPLE, capabilities_of, require
from zoo.data import ImageDataModule
from zoo.data.binarize import STATIC_SEED
from zoo.distributions import bits_per_dim
from zoo.errors import ConfigError
from zoo.factories import class_path, import_class
from zoo.metrics.extractors import extractor_for, get_extractor, list_extractors
from zoo.metrics.features import FeatureExtractor
from zoo.metrics.sample_quality import (
    IS_SPLITS,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    PR_K,
    SAMPLE_METRICS,
    SampleQuality,
)
from zoo.paths import write_json, zoo_home
from zoo.registry import did_you_mean

METRICS = (*SAMPLE_METRICS, "nll", "disentanglement")
SPLITS = ("train", "test")
#: ``--data`` names -> datamodule class paths; the name is also the dataset's name in extractor entries.
DATASETS = {
    "digits": "zoo.data.DigitsDataModule",
    "fashion_mnist": "zoo.data.FashionMNISTDataModule",
    "mnist": "zoo.data.MNISTDataModule",
    "cifar10": "zoo.data.CIFAR10DataModule",
    "sprites": "zoo.data.SpritesDataModule",
}
#: datamodule arguments that change neither the images nor the official splits (not part of the cache key)
LOADER_ARGS = ("batch_size", "num_workers", "seed", "val_size", "download", "in_memory", "device", "random_flip")
CACHE_FORMAT = 1  # bump when what is cached changes
PACKAGE_DIR = Path(__file__).resolve().parents[1]


# -- inputs -------------------------------------------------------------------------------------------
def parse_metrics(text: str | Sequence[str]) -> list[str]:
    """``"fid,kid"`` -> ``["fid", "kid"]``; an unknown name is a ConfigError listing the valid ones."""
    names = [m.strip() for m in text.split(",")] if isinstance(text, str) else list(text)
    names = [m for m in names if m]
    if not names:
        raise ConfigError(f"no metrics given; choose from {','.join(METRICS)}")
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; {did_you_mean(name, METRICS)}valid: {','.join(METRICS)}")
    return list(dict.fromkeys(names))


def build_datamodule(data: str) -> tuple[ImageDataModule, str, dict[str, Any]]:
    """(datamodule, dataset name, its ``{"class_path", "init_args"}``) from a name or a recipe's ``data:``."""
    if data in DATASETS:
        config: dict[str, Any] = {"class_path": DATASETS[data], "init_args": {}}
    elif data.endswith((".yaml", ".yml")):
        path = Path(data)
        if not path.is_file():
            raise ConfigError(f"--data {data}: no such recipe file")
        section = (yaml.safe_load(path.read_text()) or {}).get("data")
        if not isinstance(section, dict) or "class_path" not in section:
            raise ConfigError(f"--data {data}: the recipe has no data: section with a class_path")
        config = {"class_path": section["class_path"], "init_args": dict(section.get("init_args") or {})}
    else:
        raise ConfigError(
            f"--data {data!r} is neither a dataset name nor a recipe .yaml; {did_you_mean(data, DATASETS)}"
            f"choose one of {sorted(DATASETS)} or a recipe such as recipes/vae/digits.yaml"
        )
    cls = import_class(config["class_path"])
    if not issubclass(cls, ImageDataModule):
        raise ConfigError(f"--data {data}: {config['class_path']} is not a zoo ImageDataModule")
    datamodule = cls(**config["init_args"])
    names = {import_class(path): name for name, path in DATASETS.items()}
    dataset = names.get(cls, cls.__name__)
    return datamodule, dataset, {"class_path": class_path(cls), "init_args": dict(datamodule.hparams)}


def split_dataset(datamodule: ImageDataModule, split: str, n: int | None) -> Dataset:
    """The official ``split`` of the data (all of it: the validation part stays in ``train``), first ``n``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {SPLITS}")
    datamodule.prepare_data()
    dataset = datamodule.load_train() if split == "train" else datamodule.load_test()
    if n is not None:
        if n > len(dataset):
            raise ConfigError(f"asked for {n} {split} images but the {split} split has {len(dataset)}")
        dataset = Subset(dataset, range(n))
    return dataset


def batches(dataset: Dataset, batch_size: int, desc: str, *, labels: bool = False) -> Iterator[Any]:
    """The images (N, C, H, W) of ``dataset`` in batches, or (images, labels (N,)) with ``labels``."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with tqdm(total=len(dataset), desc=desc, unit="img", file=sys.stderr, leave=False) as bar:
        for batch in loader:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            if labels:
                if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                    raise ConfigError(f"{desc}: a class-conditional model needs labelled images; this dataset "
                                      "yields images only")
                yield x, batch[1]
            else:
                yield x
            bar.update(len(x))


# -- real features, cached ----------------------------------------------------------------------------
def real_outputs(
    extractor: FeatureExtractor,
    dataset: Dataset,
    *,
    key: dict[str, Any],
    batch_size: int,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """The extractor's outputs on the real images, from the cache when ``key`` was seen before."""
    key = {**key, "extractor_sha256": extractor.sha256, "format": CACHE_FORMAT}
    text = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    name = f"{key['dataset']}-{key['split']}-{extractor.name}-{digest}.safetensors"
    path = zoo_home() / "cache" / "real_features" / name
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("key") == text:
                    return load_file(str(path))
        except (SafetensorError, OSError, ValueError):  # a truncated or foreign file: recompute, overwrite it
            pass
    outputs: dict[str, list[torch.Tensor]] = {"features": [], "logits": []}
    for x in batches(dataset, batch_size, f"real {key['split']} images"):
        for name, value in extractor(x.to(device)).items():
            outputs[name].append(value.float().cpu())
    tensors = {name: torch.cat(values) for name, values in outputs.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata={"key": text})
    tmp.replace(path)
    return tensors


# -- the evaluation -----------------------------------------------------------------------------------
def evaluate(
    model_ref: str,
    *,
    data: str,
    metrics: str | Sequence[str] = "fid",
    n_fake: int = 50_000,
    extractor: str | None = None,
    split: str = "train",
    n_real: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    inception_weights: str | None = None,
    download: bool = True,
    kid_subset_size: int | None = None,
    kid_subsets: int = KID_SUBSETS,
    is_splits: int = IS_SPLITS,
    pr_k: int = PR_K,
    nll_k: int = 5000,
    nll_split: str = "test",
    n_nll: int | None = None,
    nll_batch_size: int = 4096,
    disentanglement_scale: float = 1.0,
    device: str | None = None,
) -> dict[str, Any]:
    """Score ``model_ref`` (a pretrained name, a ``.ckpt`` or a ``.safetensors`` file); see the module doc.

    Returns ``{"model", "data", "metrics": {name: value}, "protocol": {...}}``. Every check that needs no
    computation (metric names, sample counts, model abilities, shapes) runs before any image is drawn."""
    import zoo

    names = parse_metrics(metrics)
    counts = {"n_fake": n_fake, "batch_size": batch_size, "nll_k": nll_k, "nll_batch_size": nll_batch_size}
    if not 0 < disentanglement_scale <= 1:
        raise ConfigError(f"--disentanglement-scale must be in (0, 1] (1: disentanglement_lib's counts), got "
                          f"{disentanglement_scale}")
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    for name, value in (("n_real", n_real), ("n_nll", n_nll)):
        if value is not None and value < 2:
            raise ConfigError(f"{name} must be >= 2 (or omitted for the whole split), got {value}")
    covariance = [m for m in names if m in ("fid", "kid", "pr")]
    if covariance and n_fake < 2:  # a covariance, a kernel mean over pairs, nearest neighbours: two at least
        raise ConfigError(f"--n-fake {n_fake} is too few for {', '.join(covariance)}: they need >= 2 samples "
                          "(the protocol uses 10000)")
    if kid_subset_size is not None and kid_subset_size < 2:
        raise ConfigError(f"--kid-subset-size must be >= 2 (KID averages over pairs), got {kid_subset_size}")
    device_ = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = zoo.load(model_ref).to(device_).eval()
    sample_metrics = [m for m in names if m in SAMPLE_METRICS]
    if sample_metrics:
        what = f"be scored on {', '.join(sample_metrics)} (drop them from --metrics)"
        require(model, SAMPLE, to=what, name=str(model_ref))
    if "nll" in names:
        require(model, LIKELIHOOD, to="compute nll (drop it from --metrics)", name=str(model_ref))
    datamodule, dataset_name, data_config = build_datamodule(data)
    if tuple(model.in_shape) != tuple(datamodule.shape):
        raise ConfigError(
            f"the model makes {tuple(model.in_shape)} images but --data {data} yields {tuple(datamodule.shape)}; "
            f"evaluate on the data the model was trained on (its recipe, e.g. --data recipes/<method>/<dataset>.yaml)"
        )
    results: dict[str, float] = {}
    protocol: dict[str, Any] = {"seed": seed, "batch_size": batch_size, "device": str(device_)}

    if sample_metrics:
        real = split_dataset(datamodule, split, n_real)
        n_real_ = len(real)
        if "kid" in sample_metrics:
            subset = kid_subset_size if kid_subset_size is not None else min(KID_SUBSET_SIZE, n_real_)
            if subset > n_real_:
                raise ConfigError(
                    f"KID's subset size {subset} exceeds the {n_real_} real {split} images; "
                    f"pass --kid-subset-size <= {n_real_}"
                )
            if n_fake < subset:
                raise ConfigError(
                    f"--n-fake {n_fake} is smaller than KID's subset size {subset}; "
                    f"pass --n-fake >= {subset} or --kid-subset-size <= {n_fake}"
                )
        else:
            subset = kid_subset_size or KID_SUBSET_SIZE
        if "is" in sample_metrics and n_fake < is_splits:
            raise ConfigError(
                f"--n-fake {n_fake} is smaller than IS's {is_splits} splits; pass --n-fake >= {is_splits}"
            )
        extractor_name = extractor or extractor_for(dataset_name)
        if extractor_name not in list_extractors():
            raise ConfigError(
                f"unknown extractor {extractor_name!r}; {did_you_mean(extractor_name, list_extractors())}"
                f"choose one of {list_extractors()}"
            )
        feature_extractor = get_extractor(extractor_name, inception_weights=inception_weights, download=download)
        if feature_extractor.in_shape is not None and feature_extractor.in_shape != tuple(datamodule.shape):
            raise ConfigError(
                f"extractor {extractor_name!r} reads {feature_extractor.in_shape} images but the data are "
                f"{tuple(datamodule.shape)}; pass --extractor inception (it resizes any size)"
            )
        feature_extractor.to(device_)
        quality = SampleQuality(
            feature_extractor, sample_metrics, kid_subsets=kid_subsets, kid_subset_size=subset,
            is_splits=is_splits, pr_k=pr_k,
        )
        identity = {k: v for k, v in data_config["init_args"].items() if k not in LOADER_ARGS}
        key = {"dataset": dataset_name, "class_path": data_config["class_path"], "init_args": identity,
               "split": split, "n_real": n_real_}
        outputs = real_outputs(feature_extractor, real, key=key, batch_size=batch_size, device=device_)
        quality.update_outputs(outputs, real=True)
        generator = torch.Generator().manual_seed(seed)
        with tqdm(total=n_fake, desc="generated images", unit="img", file=sys.stderr, leave=False) as bar:
            for start in range(0, n_fake, batch_size):
                with torch.no_grad():
                    images = model.sample(min(batch_size, n_fake - start), generator=generator)
                quality.update(images, real=False)
                bar.update(len(images))
        results.update(quality.compute(seed=seed))
        protocol.update(
            split=split,
            n_real=n_real_,
            n_fake=n_fake,
            extractor=feature_extractor.protocol(),
            resize=feature_extractor.resize,
        )
        if "kid" in sample_metrics:
            protocol["kid"] = {"subsets": kid_subsets, "subset_size": subset, "kernel": "polynomial, degree 3"}
        if "is" in sample_metrics:
            protocol["is"] = {"splits": is_splits, "on": "logits"}
        if "pr" in sample_metrics:
            protocol["pr"] = {"k": pr_k, "on": "features", "implementation": "torch-fidelity"}

    if "nll" in names:
        images = split_dataset(datamodule, nll_split, n_nll)
        data_kind: dict[str, Any] = {"kind": "grey levels in [0, 1] under a density (not a probability of "
                                              "discrete images)"}
        if model.likelihood_data == "binary":  # binary models: the static seeded binarization of the split
            static, sha256 = datamodule.static_binarization(nll_split)
            images = static if n_nll is None else Subset(static, range(len(images)))
            data_kind = {"kind": "binarized", "binarization": "static", "seed": STATIC_SEED, "sha256": sha256}
        elif model.likelihood_data == "n-level":
            # a discrete model of n-level pixels refuses any pixel off its grid, so its number is a
            # log-probability of these very images (digits' 17 grey levels, 8-bit images' 256)
            data_kind = {"kind": "n-level", "levels": int(model.levels)}
        generator = torch.Generator().manual_seed(seed)
        # a class-conditional model's number is log p(x | y), y each image's own label
        conditional = CONDITIONAL in capabilities_of(model)
        log_px = []
        for batch in batches(images, batch_size, f"log-likelihood, K={nll_k}", labels=conditional):
            x, given = batch if conditional else (batch, {})
            if conditional:
                given = {"y": batch[1].long().to(device_)}
            estimate = model.log_likelihood(x.to(device_), k=nll_k, batch_size=nll_batch_size, generator=generator,
                                            **given)
            log_px.append(estimate.cpu())
        nll = -torch.cat(log_px).double()
        num_dims = math.prod(model.in_shape)
        results["nll"] = nll.mean().item()
        results["nll_std_err"] = (nll.std() / math.sqrt(len(nll))).item()
        results["nll_bpd"] = float(bits_per_dim(results["nll"], num_dims))
        protocol["nll"] = {
            "split": nll_split,
            "n": len(nll),
            "k": nll_k if model.likelihood_kind == "importance_weighted" else None,
            "kind": model.likelihood_kind,
            "data": data_kind,
            "estimator": LIKELIHOOD_KINDS[model.likelihood_kind],
            "unit": "nats per image; nll_bpd = nll / (C*H*W * ln 2)",
            "num_dims": num_dims,
        }
        if conditional:
            protocol["nll"]["given"] = "each image's own class label: log p(x | y)"
    if "disentanglement" in names:  # the beta-VAE metric, the FactorVAE metric and MIG, on data with factors
        from zoo.metrics.disentanglement import evaluate_disentanglement

        require(model, ENCODE, to="be scored on disentanglement (it reads encode(x))", name=str(model_ref))
        scores = evaluate_disentanglement(model, data=data, seed=seed, scale=disentanglement_scale)
        results.update(scores["metrics"])
        protocol.update(scores["protocol"])
    protocol.update(versions=versions(), **git_commit())
    return {
        "model": str(model_ref),
        "model_class": class_path(type(model)),
        "dataset": dataset_name,
        "data": data_config,
        "metrics": results,
        "protocol": protocol,
    }


def versions() -> dict[str, str]:
    import lightning
    import torch_fidelity
    import torchmetrics

    import zoo

    return {
        "zoo": zoo.__version__,
        "torch": torch.__version__,
        "torchmetrics": torchmetrics.__version__,
        "torch_fidelity": torch_fidelity.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
    }


def git_commit() -> dict[str, Any]:
    """``{"commit": HEAD of zoo's own checkout, "commit_dirty": uncommitted changes?}``; nulls outside git."""
    root = PACKAGE_DIR.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            raise ValueError("zoo is not at the top of this checkout")  # an install inside someone else's repo
        return {"commit": git("rev-parse", "HEAD"), "commit_dirty": bool(git("status", "--porcelain", "-uno"))}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"commit": None, "commit_dirty": None}


# -- the command --------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``zoo evaluate`` (zoo/cli.py adds the subcommand)."""
    parser.add_argument(
        "model", help="pretrained name (zoo list --pretrained), a .ckpt from zoo fit, or a .safetensors file"
    )
    parser.add_argument(
        "--data", required=True,
        help=f"dataset name ({', '.join(DATASETS)}) or a recipe .yaml whose data: section to use",
    )
    parser.add_argument("--metrics", default="fid", help=f"comma-separated, from {','.join(METRICS)} (default fid)")
    parser.add_argument("--n-fake", type=int, default=50_000, help="generated images for fid/kid/is/pr (default 50000)")
    parser.add_argument(
        "--extractor", default=None,
        help=f"feature extractor, one of {list_extractors()} (default: the dataset's domain classifier, "
        "else inception)",
    )
    parser.add_argument("--split", choices=SPLITS, default="train", help="real images for fid/kid/pr (default train)")
    parser.add_argument("--n-real", type=int, default=None, help="first n real images of the split (default all)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the samples, KID subsets and IS splits (default 0)"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    parser.add_argument("--out", default="results.json", help="JSON file to write (default results.json)")
    parser.add_argument(
        "--inception-weights", default=None,
        help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (default $ZOO_INCEPTION_WEIGHTS, "
        "else $ZOO_HOME/weights/, downloaded when missing)",
    )
    parser.add_argument("--no-download", action="store_true", help="never download the Inception weights")
    parser.add_argument(
        "--kid-subset-size", type=int, default=None, help="KID subset size (default 1000, or n_real if fewer)"
    )
    parser.add_argument("--nll-k", type=int, default=5000, help="importance samples per image for nll (default 5000)")
    parser.add_argument("--nll-split", choices=SPLITS, default="test", help="images for nll (default test)")
    parser.add_argument("--n-nll", type=int, default=None, help="first n images of the nll split (default all)")
    parser.add_argument(
        "--disentanglement-scale", type=float, default=1.0,
        help="times disentanglement_lib's counts for the beta-VAE and FactorVAE metrics (default 1: theirs)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default cuda when available)")


def evaluate_main(opts: argparse.Namespace) -> None:
    result = evaluate(
        opts.model,
        data=opts.data,
        metrics=opts.metrics,
        n_fake=opts.n_fake,
        extractor=opts.extractor,
        split=opts.split,
        n_real=opts.n_real,
        seed=opts.seed,
        batch_size=opts.batch_size,
        inception_weights=opts.inception_weights,
        download=not opts.no_download,
        kid_subset_size=opts.kid_subset_size,
        nll_k=opts.nll_k,
        nll_split=opts.nll_split,
        n_nll=opts.n_nll,
        disentanglement_scale=opts.disentanglement_scale,
        device=opts.device,
    )
    print(format_table(result))  # first: a failed write must not lose the computed numbers
    try:
        write_json(opts.out, result)
    except OSError as err:
        raise ConfigError(f"the metrics are printed above, but --out {opts.out} cannot be written ({err.strerror}); "
                          "rerun with another --out") from None
    print(f"wrote {opts.out}")


def format_table(result: dict[str, Any]) -> str:
    protocol = result["protocol"]
    lines = [f"{result['model']} on {result['dataset']}"]
    if "extractor" in protocol:
        extractor = protocol["extractor"]
        lines.append(
            f"  {protocol['split']} split, n_real={protocol['n_real']}, n_fake={protocol['n_fake']}, "
            f"extractor {extractor['name']} (sha256 {extractor['sha256'][:12]}...), seed {protocol['seed']}"
        )
    if "nll" in protocol:
        nll = protocol["nll"]
        k = f", K={nll['k']}" if nll["k"] is not None else ""
        lines.append(f"  nll: {nll['split']} split, n={nll['n']}, {nll['kind']}{k}, nats per image")
    width = max(len(name) for name in result["metrics"])
    lines += [f"  {name:<{width}}  {value:.6g}" for name, value in result["metrics"].items()]
    return "\n".join(lines)
