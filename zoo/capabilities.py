"""What a model can do, declared on its class and read by the CLI, callbacks, ``zoo evaluate`` and the leaderboard.

A method class lists its capabilities (``capabilities = frozenset({SAMPLE, DECODE})``) and, when it has a
likelihood, which kind (``likelihood_kind``); nothing downstream tests ``hasattr``. A request for something a
model cannot do is a :class:`~zoo.errors.CapabilityError`: one line naming the model, what was asked and
which models can.

Capabilities:

- ``sample``: ``sample(n, *, generator=None)`` -> images in [0, 1].
- ``decode``: ``latent_dim`` and ``decode(z)`` -> images (latent walks, vector arithmetic).
- ``encode``: ``encode(x)`` -> codes (N, latent_dim) (linear probes, AE pretraining).
- ``reconstruct``: ``reconstruct(x)`` -> images (reconstruction grids).
- ``likelihood``: ``log_likelihood(x, *, k=..., batch_size=..., generator=None)`` -> nats per image; see
  :data:`LIKELIHOOD_KINDS` for what the number is.
- ``conditional``: labels enter the model: ``num_classes`` and ``sample(n, y=...)``.
- ``translate``: ``translate(x, direction)`` between two domains.
- ``classify``: ``predict(x)`` -> class logits (downstream classifiers, domain adaptation).
- ``complete``: ``complete(x, mask, *, generator=None)`` -> ``x`` with the pixels where ``mask`` is 0 filled in
  by the model (the lecture's missing data: the bottom half of an image given the top; ``zoo complete``).

The *tasks* a model is ranked on (one leaderboard table each) follow from its capabilities
(:func:`tasks_of`), so a new method lands in the right tables without the renderer being edited.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from zoo.errors import CapabilityError

SAMPLE, DECODE, ENCODE, RECONSTRUCT = "sample", "decode", "encode", "reconstruct"
LIKELIHOOD, CONDITIONAL, TRANSLATE, CLASSIFY = "likelihood", "conditional", "translate", "classify"
COMPLETE = "complete"
CAPABILITIES = (SAMPLE, DECODE, ENCODE, RECONSTRUCT, LIKELIHOOD, CONDITIONAL, TRANSLATE, CLASSIFY, COMPLETE)

LikelihoodKind = Literal["exact_discrete", "importance_weighted", "elbo"]
#: What ``log_likelihood`` returns, per kind (the leaderboard names the estimator with every number):
LIKELIHOOD_KINDS: dict[str, str] = {
    "exact_discrete": "exact log-probability of discrete pixel values (autoregressive)",
    "importance_weighted": "importance-weighted lower bound with K samples (Burda et al. 2016)",
    "elbo": "evidence lower bound (one-sample or analytic)",
}

#: The leaderboard's tasks, each with the capability test that puts a model in it.
TASKS = ("generation", "conditional_generation", "likelihood", "translation", "representation", "classification")


def capabilities_of(model: Any) -> frozenset[str]:
    """The declared capabilities of a model instance or class (empty for anything that declares none)."""
    return frozenset(getattr(model, "capabilities", frozenset()))


def tasks_of(model: Any) -> tuple[str, ...]:
    """The leaderboard tasks a model (instance or class) is ranked on, in :data:`TASKS` order."""
    caps = capabilities_of(model)
    tasks = {
        "generation": SAMPLE in caps and CONDITIONAL not in caps,
        "conditional_generation": SAMPLE in caps and CONDITIONAL in caps,
        "likelihood": LIKELIHOOD in caps,
        "translation": TRANSLATE in caps,
        "representation": ENCODE in caps,
        "classification": CLASSIFY in caps,
    }
    return tuple(task for task in TASKS if tasks[task])


def require(model: Any, capability: str, *, to: str, name: str | None = None) -> None:
    """Raise a one-line :class:`CapabilityError` unless ``model`` declares ``capability``.

    ``to`` says what was asked (``"compute nll"``), ``name`` what the user called the model (a pretrained
    name or a path); the message lists the registered models that can."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; one of {CAPABILITIES}")
    if capability in capabilities_of(model):
        return
    from zoo.registry import list_models  # the registry imports the methods, which import this module

    able = list_models(capability=capability)
    label = f"{name} ({type(model).__name__})" if name else type(model).__name__
    raise CapabilityError(
        f"{label} cannot {to}: it has no {capability!r} capability (it has {_listing(capabilities_of(model))}); "
        f"models that can: {_listing(able)}"
    )


def _listing(items: Iterable[str]) -> str:
    items = sorted(items)
    return ", ".join(items) if items else "none"
