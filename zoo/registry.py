"""The model registry: ``@register_model`` entry points, ``create_model``, ``list_models`` and each model's
metadata (timm's shape).

An entry point is a function returning a LightningModule; its name is the registry name, its return
annotation the method's class. What the rest of the zoo needs to know about a method lives with that class
and is read from here, never kept in lists elsewhere:

- ``paper``: a :class:`Paper` (title, authors, year, arXiv id), for the README's methods table and the
  leaderboard's paper column;
- ``family``: the family base it stands on (``"autoencoders"``, ``"vae"``, ``"gan"``, ...);
- ``capabilities`` and ``likelihood_kind`` (see zoo/capabilities.py), from which the leaderboard's tasks follow;
- the default recipe: ``recipes/<name>/digits.yaml`` unless the entry point names another
  (``@register_model(recipe="recipes/ae/fashion_mnist.yaml")`` for a variant without recipes of its own).

So adding a method touches its file, its recipes and its tests: tests/test_registry.py fails for a registered
method without a paper, a docstring that lists its deviations from the paper, or a recipe.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import json
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from zoo.errors import ConfigError, UnknownModelError

if TYPE_CHECKING:
    import lightning as L

EntryPoint = Callable[..., "L.LightningModule"]
F = TypeVar("F", bound=EntryPoint)


@dataclasses.dataclass(frozen=True)
class Paper:
    """The paper a method implements, as its class declares it (``paper = Paper(...)``)."""

    title: str
    authors: str  # "Goodfellow et al." / "Kingma & Welling"
    year: int
    arxiv: str | None = None  # "1406.2661"; None for papers without one

    @property
    def citation(self) -> str:
        """``"Goodfellow et al. 2014"``."""
        return f"{self.authors} {self.year}"

    @property
    def url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None

    def markdown(self) -> str:
        """The citation, with a link to arXiv where there is one."""
        return f"{self.citation} [arXiv:{self.arxiv}]({self.url})" if self.arxiv else self.citation


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of one entry point."""

    name: str
    entry_point: EntryPoint
    cls: type
    recipe: str  # path of the default recipe, relative to the repository root

    @property
    def paper(self) -> Paper | None:
        return getattr(self.cls, "paper", None)

    @property
    def family(self) -> str | None:
        return getattr(self.cls, "family", None)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(getattr(self.cls, "capabilities", frozenset()))

    @property
    def likelihood_kind(self) -> str | None:
        return getattr(self.cls, "likelihood_kind", None)

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        """The method's own scores beyond its capabilities' (``zoo.metrics.MODEL_METRICS``)."""
        return tuple(getattr(self.cls, "extra_metrics", ()))

    @property
    def tasks(self) -> tuple[str, ...]:
        from zoo.capabilities import tasks_of

        return tasks_of(self.cls)

    @property
    def summary(self) -> str:
        """The entry point's one-line docstring."""
        return (self.entry_point.__doc__ or "").strip().splitlines()[0] if self.entry_point.__doc__ else ""


_entry_points: dict[str, EntryPoint] = {}
_recipes: dict[str, str] = {}
#: the shipped methods' names and one-line summaries, written by ``python -m zoo.registry`` and checked against
#: the registry by tests/test_registry.py: `zoo list` reads it without importing torch
NAME_INDEX = Path(__file__).resolve().with_name("models.json")


def _builtin() -> dict[str, EntryPoint]:
    """The entry points, with the shipped methods registered (importing ``zoo.methods`` the first time)."""
    importlib.import_module("zoo.methods")
    return _entry_points


@overload
def register_model(fn: F) -> F: ...


@overload
def register_model(*, recipe: str | None = None) -> Callable[[F], F]: ...


def register_model(fn: F | None = None, *, recipe: str | None = None) -> F | Callable[[F], F]:
    """Register ``fn`` under ``fn.__name__``; a second registration of the same name is an error.

    Use bare (``@register_model``) or with the path of the default recipe when the entry point has no recipe
    folder of its own (``@register_model(recipe="recipes/gan/digits.yaml")``)."""

    def register(fn: F) -> F:
        name = fn.__name__
        if name in _entry_points:
            other = _entry_points[name]
            raise ConfigError(
                f"model name {name!r} is already registered by {other.__module__}.{other.__qualname__}; "
                "choose another name for the entry point"
            )
        _entry_points[name] = fn
        _recipes[name] = recipe or f"recipes/{name}/digits.yaml"
        return fn

    return register(fn) if fn is not None else register


def filter_names(names: Iterable[str], pattern: str | Sequence[str] = "*") -> list[str]:
    """Sorted ``names`` matching ``pattern`` (fnmatch wildcards; a list means any of them)."""
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(name for name in names if any(fnmatch.fnmatchcase(name, p) for p in patterns))


def list_models(
    pattern: str | Sequence[str] = "*", *, family: str | None = None, capability: str | None = None
) -> list[str]:
    """Sorted registered names matching ``pattern`` (fnmatch wildcards; a list means any of them), optionally
    only those of one ``family`` or with one ``capability``."""
    names = filter_names(_builtin(), pattern)
    if family is not None:
        names = [n for n in names if model_info(n).family == family]
    if capability is not None:
        names = [n for n in names if capability in model_info(n).capabilities]
    return names


def is_model(name: str) -> bool:
    return name in _builtin()


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """``"did you mean 'vae'? "`` for the registered names closest to a mistyped one, else ``""``."""
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f"did you mean {', '.join(map(repr, close))}? " if close else ""


def model_entrypoint(name: str) -> EntryPoint:
    """The entry point registered as ``name``; an unknown name suggests the closest registered ones."""
    try:
        return _builtin()[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; {did_you_mean(name, _entry_points)}"
            "`zoo list` (or zoo.list_models()) shows the registered names"
        ) from None


def model_info(name: str) -> ModelInfo:
    """The registry's record of ``name``: class, paper, family, capabilities, default recipe."""
    entry = model_entrypoint(name)
    return ModelInfo(name=name, entry_point=entry, cls=_return_class(entry), recipe=_recipes[name])


def create_model(name: str, **kwargs: Any) -> L.LightningModule:
    """Build the registered model ``name`` with keyword hyperparameters, e.g.
    ``create_model("vae", in_shape=(1, 28, 28), latent_dim=16)``."""
    return model_entrypoint(name)(**kwargs)


def registered_classes() -> dict[str, type]:
    """``{registry name: class}`` of the primary entry point of each registered class: the first one
    registered for it (``ae`` for Autoencoder, not its variant ``ae_conv``)."""
    classes: dict[str, type] = {}
    for name, entry in _builtin().items():
        cls = _return_class(entry)
        if cls not in classes.values():
            classes[name] = cls
    return classes


def name_of_class(cls: type) -> str | None:
    """The registry name a saved file records for a model of class ``cls`` (None for an unregistered class)."""
    return next((name for name, c in registered_classes().items() if c is cls), None)


def _return_class(entry: EntryPoint) -> type:
    """The class an entry point builds, from its return annotation (``def dcgan(**kwargs) -> DCGAN``)."""
    try:
        cls = typing.get_type_hints(entry).get("return")
    except NameError as err:
        raise ConfigError(f"entry point {entry.__name__!r}: its return annotation cannot be resolved ({err})") from None
    if not isinstance(cls, type):
        raise ConfigError(
            f"entry point {entry.__name__!r} must be annotated with the class it returns "
            f"(def {entry.__name__}(**kwargs) -> MyMethod), got {cls!r}"
        )
    return cls


# -- the name index: `zoo list` without importing the methods ------------------------------------------------
def name_index() -> dict[str, dict[str, Any]]:
    """``{name: {"family", "summary"}}`` of every registered method, as ``NAME_INDEX`` should hold it."""
    return {name: {"family": model_info(name).family, "summary": model_info(name).summary} for name in list_models()}


def read_name_index(path: Path = NAME_INDEX) -> dict[str, dict[str, Any]]:
    """The shipped methods as ``NAME_INDEX`` lists them (no import of torch or of the methods)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def write_name_index(path: Path = NAME_INDEX) -> None:
    from zoo.paths import write_json

    write_json(path, name_index())


if __name__ == "__main__":  # python -m zoo.registry: rewrite the name index after adding a method
    # the registry the methods register into is the module zoo.registry, not this __main__ copy of it
    from zoo import registry

    registry.write_name_index()
    print(f"wrote {len(registry.read_name_index())} names to {registry.NAME_INDEX}")
