"""The zoo's shipped pretrained weights: one ``Weights`` entry per ``<model>.<dataset>``, read from ``index.json``.

The files and the index are written by the leaderboard (``python benchmarks/leaderboard.py run --dataset D
--export``): each entry's weights were trained by its recipe, hashed, and scored by ``zoo evaluate`` under
the pinned protocol, which the entry records with its numbers. Nothing here is typed in by hand.

    import zoo
    zoo.list_pretrained()                     # ['ae.digits', 'dcgan.fashion_mnist', ...]
    model = zoo.load("dcgan.fashion_mnist")   # offline: the file ships in this folder; sha256 checked
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import WeightsError

if TYPE_CHECKING:
    from zoo.weights import Weights

INDEX = Path(__file__).resolve().with_name("index.json")
#: Weights.file of shipped entries is relative to the package, so an installed copy finds them too.
PACKAGE_SUBDIR = "pretrained"


def read_index(path: Path = INDEX) -> dict[str, dict[str, Any]]:
    """``{name: {"file", "sha256", "meta"}}``; an absent index is an empty zoo, not an error."""
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise WeightsError(f"{path} is not valid JSON ({err}); regenerate it with benchmarks/leaderboard.py") from None
    return entries


def index_weights(path: Path = INDEX) -> list[Weights]:
    """The index's entries as ``Weights`` (zoo.weights registers them the first time a name is looked up)."""
    from zoo.weights import Weights

    return [
        Weights(name=name, sha256=entry["sha256"], file=f"{PACKAGE_SUBDIR}/{entry['file']}", meta=entry["meta"])
        for name, entry in sorted(read_index(path).items())
    ]

