"""Disentanglement metrics: how well single code dimensions capture single generative factors.

They need data whose images are rendered from known factors (zoo/data/sprites.py), because each protocol draws
images with chosen factors held fixed. A *factor source* is any object with

    sizes: tuple[int, ...]                      # number of values of each factor
    names: tuple[str, ...]
    sample(n, generator) -> (n, K) int64       # factor classes drawn uniformly from the grid
    render(classes) -> (n, C, H, W) in [0, 1]  # the images of those factors

and ``encode`` maps images to codes (N, D) (a model's ``encode``, the posterior mean for a VAE).

- **beta-VAE metric** (Higgins et al. 2017, "beta-VAE", ICLR, Sec. 3): a point is made by choosing a factor k,
  drawing L pairs of images that share the value of k (everything else drawn independently), and averaging
  |z1 - z2| over the L pairs; a linear classifier predicts k from the point. Score: its accuracy on held-out
  points. A disentangled code has small differences exactly in the dimensions of k.
- **FactorVAE metric** (Kim & Mnih 2018, "Disentangling by Factorising", ICML, Sec. 4): codes are divided by
  their standard deviation over the data (dimensions whose std is below ``prune`` are dropped as collapsed);
  a vote is made by fixing factor k for L images and taking the dimension of least variance; a majority-vote
  classifier maps each dimension to a factor. Score: accuracy of that classifier on held-out votes.
- **MIG**, the mutual information gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs",
  NeurIPS, Sec. 4.1): for each factor, the gap between the two largest mutual informations I(z_j; v_k) over
  the code dimensions, divided by the factor's entropy H(v_k), averaged over factors. Each dimension is
  discretised into ``bins`` equal-width bins over its range (the estimator of Locatello et al. 2019's
  disentanglement_lib; Chen et al. estimate I from q(z|x) over the whole dataset instead).

Sample counts and classifiers follow disentanglement_lib (Locatello et al. 2019, "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations", ICML): L = 64, 10,000 training and
5,000 evaluation points, 10,000 images for the variances and for MIG, 20 bins, prune at std 0.05, scikit-learn's
logistic regression for the beta-VAE metric. Every result carries the protocol it was measured with, since
smaller counts (used where CPU time is short) change the numbers.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from zoo.errors import ConfigError
from zoo.metrics.probe import encode_images

Encode = Callable[[torch.Tensor], torch.Tensor]

#: Higgins et al. 2017, Table 1 (dSprites, beta-VAE metric, linear classifier accuracy)
PUBLISHED_BETA_VAE_METRIC = {"vae": 0.616, "beta_vae": 0.992}


class FactorSource(Protocol):
    sizes: tuple[int, ...]
    names: tuple[str, ...]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def render(self, classes: torch.Tensor) -> torch.Tensor: ...


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")


@torch.no_grad()
def codes_and_factors(encode: Encode, source: FactorSource, n: int, generator: torch.Generator,
                      *, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes (n, D) float64 of n images with factors drawn uniformly, and those factors' classes (n, K)."""
    factors = source.sample(n, generator)
    codes = torch.cat([encode_images(encode, source.render(part)) for part in factors.split(batch_size)])
    return codes, factors


def with_factor_fixed(source: FactorSource, k: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """For each factor index in k (P,), ``size`` factor draws sharing one random value of that factor:
    (P, size, K) classes."""
    draws = source.sample(len(k) * size, generator).view(len(k), size, -1)
    fixed = source.sample(len(k), generator)  # one value per point, taken from a uniform draw of the grid
    columns = torch.arange(draws.shape[-1])
    mask = columns.view(1, 1, -1) == k.view(-1, 1, 1)  # (P, 1, K): the fixed factor's column
    return torch.where(mask, fixed.unsqueeze(1).expand_as(draws), draws)


# -- beta-VAE metric ------------------------------------------------------------------------------------
@torch.no_grad()
def beta_vae_points(encode: Encode, source: FactorSource, n: int, *, pairs: int, generator: torch.Generator,
                    points_per_batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """n points of the beta-VAE metric: mean over ``pairs`` pairs of |z1 - z2| with one factor shared, and the
    index of that factor. Returns (n, D) float64 and (n,) int64."""
    features, labels = [], []
    for start in range(0, n, points_per_batch):
        count = min(points_per_batch, n - start)
        k = torch.randint(len(source.sizes), (count,), generator=generator)
        # each pair shares its own value of factor k (values differ between pairs, as in Higgins et al.)
        first = source.sample(count * pairs, generator).view(count, pairs, -1)  # (P, L, K)
        second = source.sample(count * pairs, generator).view_as(first)
        second = torch.where(torch.arange(first.shape[-1]).view(1, 1, -1) == k.view(-1, 1, 1), first, second)
        images = source.render(torch.cat([first, second]).flatten(0, 1))
        z = encode_images(encode, images).view(2, count, pairs, -1)
        features.append((z[0] - z[1]).abs().mean(1))
        labels.append(k)
    return torch.cat(features).numpy(), torch.cat(labels).numpy()


def beta_vae_metric(encode: Encode, source: FactorSource, *, pairs: int = 64, n_train: int = 10_000,
                    n_eval: int = 5_000, seed: int = 0) -> dict[str, Any]:
    """Higgins et al.'s beta-VAE metric: accuracy of a linear classifier (logistic regression) predicting the
    fixed factor from the mean absolute code difference of ``pairs`` pairs; ``{"beta_vae_metric": ...,
    "protocol": {...}}``. Chance is 1 / number of factors."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    _check_counts(pairs=pairs, n_train=n_train, n_eval=n_eval)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = beta_vae_points(encode, source, n_train, pairs=pairs, generator=generator)
    eval_x, eval_y = beta_vae_points(encode, source, n_eval, pairs=pairs, generator=generator)
    with warnings.catch_warnings():  # an unconverged fit is still a fit; its accuracy is what it is
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = LogisticRegression(max_iter=1000).fit(train_x, train_y)
    return {"beta_vae_metric": float(classifier.score(eval_x, eval_y)),
            "beta_vae_metric_train": float(classifier.score(train_x, train_y)),
            "protocol": {"pairs": pairs, "n_train": n_train, "n_eval": n_eval, "seed": seed,
                         "classifier": "sklearn LogisticRegression (L2, C=1, lbfgs) on mean |z1 - z2|",
                         "chance": 1 / len(source.sizes)}}


# -- FactorVAE metric -----------------------------------------------------------------------------------
def majority_vote_accuracy(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float]:
    """(train, eval) accuracy of the majority-vote classifier fitted on ``train_votes`` (D, K) counts of (dimension,
    factor) votes: each dimension predicts its most voted factor; scored on ``eval_votes`` (D, K)."""
    predicted = train_votes.argmax(1)
    rows = np.arange(len(predicted))
    train = train_votes[rows, predicted].sum() / max(train_votes.sum(), 1)
    held_out = eval_votes[rows, predicted].sum() / max(eval_votes.sum(), 1)
    return float(train), float(held_out)


@torch.no_grad()
def factor_vae_votes(encode: Encode, source: FactorSource, n: int, *, scale: torch.Tensor, active: torch.Tensor,
                     batch: int, generator: torch.Generator, points_per_batch: int = 32) -> np.ndarray:
    """(D, K) counts of votes: for each of n votes a factor k is fixed over ``batch`` images and the vote goes to
    the active dimension of least variance of the codes divided by ``scale``."""
    votes = np.zeros((len(scale), len(source.sizes)), dtype=np.int64)
    for start in range(0, n, points_per_batch):
        count = min(points_per_batch, n - start)
        k = torch.randint(len(source.sizes), (count,), generator=generator)
        classes = with_factor_fixed(source, k, batch, generator)
        z = encode_images(encode, source.render(classes.flatten(0, 1))).view(count, batch, -1) / scale
        variance = z.var(1, unbiased=True).masked_fill(~active, math.inf)  # collapsed dimensions never win
        np.add.at(votes, (variance.argmin(1).numpy(), k.numpy()), 1)
    return votes


def factor_vae_metric(encode: Encode, source: FactorSource, *, batch: int = 64, n_train: int = 10_000,
                      n_eval: int = 5_000, n_variance: int = 10_000, prune: float = 0.05,
                      seed: int = 0) -> dict[str, Any]:
    """Kim & Mnih's FactorVAE metric: majority-vote accuracy of (least-variance dimension -> fixed factor);
    ``{"factor_vae_metric": ..., "protocol": {...}}``. 0 when every dimension is collapsed."""
    _check_counts(batch=batch, n_train=n_train, n_eval=n_eval, n_variance=n_variance)
    if batch < 2:
        raise ConfigError(f"batch must be >= 2 (a variance needs two codes), got {batch}")
    generator = torch.Generator().manual_seed(seed)
    codes, _ = codes_and_factors(encode, source, n_variance, generator)
    scale = codes.std(0, unbiased=True)
    active = scale >= prune
    protocol = {"batch": batch, "n_train": n_train, "n_eval": n_eval, "n_variance": n_variance, "prune": prune,
                "seed": seed, "active_dims": int(active.sum()), "chance": 1 / len(source.sizes)}
    if not active.any():
        return {"factor_vae_metric": 0.0, "factor_vae_metric_train": 0.0, "protocol": protocol}
    votes = [factor_vae_votes(encode, source, n, scale=scale, active=active, batch=batch, generator=generator)
             for n in (n_train, n_eval)]
    train, held_out = majority_vote_accuracy(*votes)
    return {"factor_vae_metric": held_out, "factor_vae_metric_train": train, "protocol": protocol}


# -- MIG ------------------------------------------------------------------------------------------------
def discretize(codes: np.ndarray, bins: int) -> np.ndarray:
    """Each column of codes (N, D) into ``bins`` equal-width bins over its range: (N, D) int64 in [0, bins)."""
    low, high = codes.min(0), codes.max(0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(((codes - low) / width).astype(np.int64), 0, bins - 1)


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete samples (N,): the plug-in estimate from their joint histogram
    (scikit-learn's ``mutual_info_score``, as disentanglement_lib uses)."""
    from sklearn.metrics import mutual_info_score

    return float(mutual_info_score(a, b))


def entropy(a: np.ndarray) -> float:
    """H(a) in nats of a discrete sample (N,): I(a; a), the plug-in estimate."""
    return mutual_information(a, a)


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, *, bins: int = 20) -> tuple[float, np.ndarray]:
    """(MIG, per-factor gaps) of codes (N, D) and factor classes (N, K): mean over factors of
    (largest - second largest I(z_j; v_k) over j) / H(v_k). Factors with one value (H = 0) are skipped."""
    discrete = discretize(codes, bins)
    gaps = []
    for k in range(factors.shape[1]):
        h = entropy(factors[:, k])
        if h == 0:
            continue
        information = sorted((mutual_information(discrete[:, j], factors[:, k]) for j in range(codes.shape[1])),
                             reverse=True) + [0.0]
        gaps.append((information[0] - information[1]) / h)
    gaps_array = np.array(gaps)
    return float(gaps_array.mean()) if len(gaps_array) else 0.0, gaps_array


def mig(encode: Encode, source: FactorSource, *, n: int = 10_000, bins: int = 20, seed: int = 0) -> dict[str, Any]:
    """Chen et al.'s mutual information gap on n images with uniformly drawn factors;
    ``{"mig": ..., "mig_per_factor": {...}, "protocol": {...}}``."""
    _check_counts(n=n, bins=bins)
    codes, factors = codes_and_factors(encode, source, n, torch.Generator().manual_seed(seed))
    score, gaps = mutual_information_gap(codes.numpy(), factors.numpy(), bins=bins)
    named = [name for name, size in zip(source.names, source.sizes) if size > 1]
    return {"mig": score, "mig_per_factor": dict(zip(named, map(float, gaps))),
            "protocol": {"n": n, "bins": bins, "seed": seed,
                         "estimator": "plug-in on equal-width bins of each code dimension (disentanglement_lib)"}}


def disentanglement(encode: Encode, source: FactorSource, *, seed: int = 0, scale: float = 1.0) -> dict[str, Any]:
    """The three metrics, the beta-VAE and FactorVAE metrics with disentanglement_lib's counts times ``scale`` (1.0:
    the published protocol; smaller where CPU time is short), MIG on its 10,000 images (cheap: one encode each),
    as ``{"metrics": {...}, "protocol": {...}}``."""
    def count(published: int) -> int:
        return max(1, round(published * scale))

    results = {
        "beta_vae_metric": beta_vae_metric(encode, source, n_train=count(10_000), n_eval=count(5_000), seed=seed),
        "factor_vae_metric": factor_vae_metric(encode, source, n_train=count(10_000), n_eval=count(5_000),
                                               n_variance=count(10_000), seed=seed),
        "mig": mig(encode, source, n=10_000, seed=seed),
    }
    results["mig"]["protocol"]["per_factor"] = results["mig"]["mig_per_factor"]  # which factors have a latent
    metrics = {name: result[name] for name, result in results.items()}
    return {"metrics": metrics, "protocol": {name: result["protocol"] for name, result in results.items()}}


def evaluate_disentanglement(model: Any, *, data: str, scale: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """The three metrics of ``model.encode`` on ``data`` (a dataset name or recipe whose datamodule renders images
    from known factors: ``sprites``), as ``{"metrics": {...}, "protocol": {...}}`` (``zoo evaluate``'s shape)."""
    from zoo.metrics.evaluate import build_datamodule

    datamodule, dataset, _ = build_datamodule(data)
    source = getattr(datamodule, "sprites", None)
    if source is None:
        raise ConfigError(f"--data {data}: disentanglement needs data with known generative factors; use "
                          f"--data sprites (or a sprites recipe), not {dataset}")
    if tuple(model.in_shape) != (1, source.side, source.side):
        raise ConfigError(f"the model takes images of shape {tuple(model.in_shape)} but the {dataset} data are "
                          f"(1, {source.side}, {source.side}); score it on the variant it was trained on")
    model.eval()

    def encode(x: torch.Tensor) -> torch.Tensor:
        return model.encode(x.to(model.device, model.dtype))

    result = disentanglement(encode, source, seed=seed, scale=scale)
    for protocol in result["protocol"].values():
        protocol["data"] = {"name": dataset, "variant": getattr(source, "variant", None),
                            "factors": dict(zip(source.names, source.sizes))}
    return result
