"""Pretrained weights: a ``Weights`` record per model, safetensors files only, sha256 checked before use.

A weights file is a safetensors file whose tensors are the model's state dict and whose metadata holds
what rebuilds the model: ``zoo.model`` (the registry name), ``zoo.format`` (the file format's version),
``zoo.class_path`` (for people) and ``zoo.hparams`` (JSON), and the sha256 of its tensor data
(``zoo.tensors_sha256``), checked on every load: a file verifies itself, with or without an outside hash.
Safetensors, not pickle: loading a file runs no code. ``zoo.load`` takes a registered name (``"vae.digits"``),
a ``.safetensors`` file or a Lightning ``.ckpt`` (read with ``torch.load(weights_only=True)``).

The class is found through the registry only, never by importing what a file names: a file that names
anything else is refused before any import. Files of an older format are upgraded by the class's
``upgrade_hparams`` and ``upgrade_state_dict`` (zoo/methods/base.py), so the weights of every release load.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from zoo.errors import UnknownModelError, WeightsError
from zoo.factories import class_path
from zoo.methods.base import CHECKPOINT_KEY, FILE_FORMAT, ZooModule, non_finite_tensors
from zoo.paths import write_atomically, zoo_home
from zoo.registry import did_you_mean, filter_names, registered_classes

PACKAGE_DIR = Path(__file__).resolve().parent
META_CLASS_PATH = "zoo.class_path"
META_HPARAMS = "zoo.hparams"
META_MODEL = "zoo.model"
META_FORMAT = "zoo.format"
META_TENSORS_SHA256 = "zoo.tensors_sha256"
REQUIRED_META = ("dataset", "recipe", "metrics", "num_params")


@dataclasses.dataclass(frozen=True)
class Weights:
    """Where a model's weights are and what they score.

    Args:
        name: ``<model>.<tag>``, e.g. ``"dcgan.fashion_mnist"``.
        sha256: hex digest of the file; a file that does not match is refused.
        file: path of a file shipped with zoo, relative to the package (``pretrained/...``), or absolute.
        url: where to download the file from when it is not shipped; cached under ``$ZOO_HOME/weights``.
        meta: ``dataset``, ``recipe`` (path in the repo), ``metrics`` (each with its protocol),
            ``num_params``, and anything else worth showing.
    """

    name: str
    sha256: str
    file: str | None = None
    url: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.file is None) == (self.url is None):
            raise WeightsError(f"Weights {self.name!r} needs exactly one of file= or url=")
        if not isinstance(self.sha256, str) or len(self.sha256) != 64 or self.sha256.strip("0123456789abcdef"):
            raise WeightsError(f"Weights {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        missing = [k for k in REQUIRED_META if k not in self.meta]
        if missing:
            raise WeightsError(f"Weights {self.name!r}: meta lacks {missing}; every entry records {REQUIRED_META}")

    def path(self, *, download: bool = True) -> Path:
        """The local file, verified: shipped, cached, or downloaded now (only a verified file is kept)."""
        if self.file is not None:
            path = Path(self.file)
            path = path if path.is_absolute() else PACKAGE_DIR / path
            if not path.is_file():
                raise WeightsError(f"weights file {path} of {self.name!r} is missing; reinstall zoo")
        else:
            assert self.url is not None
            path = zoo_home() / "weights" / f"{self.sha256[:12]}-{Path(self.url).name}"
            if not path.is_file():
                if not download:
                    raise WeightsError(f"weights of {self.name!r} are not in {path}; download them from {self.url}")
                _download(self.url, path, self.sha256)
        # a shipped file cannot be downloaded again: only reinstalling restores it
        verify_sha256(path, self.sha256, fix="reinstall zoo" if self.file is not None else None)
        return path

    def load(self, *, map_location: str | torch.device = "cpu") -> ZooModule:
        return load_safetensors(self.path(), map_location=map_location)


_pretrained: dict[str, Weights] = {}
_shipped_registered = False


def _registered() -> dict[str, Weights]:
    """The registered weights, the shipped ones (zoo/pretrained/index.json) included from the first call on."""
    global _shipped_registered
    if not _shipped_registered:
        _shipped_registered = True
        from zoo.pretrained import index_weights

        for weights in index_weights():
            register_weights(weights)
    return _pretrained


def register_weights(weights: Weights) -> Weights:
    if weights.name in _registered():
        raise WeightsError(f"pretrained name {weights.name!r} is already registered")
    _pretrained[weights.name] = weights
    return weights


def list_pretrained(pattern: str | Sequence[str] = "*") -> list[str]:
    """Sorted names of registered pretrained weights matching ``pattern`` (fnmatch; a list: any of them)."""
    return filter_names(_registered(), pattern)


def get_weights(name: str) -> Weights:
    try:
        return _registered()[name]
    except KeyError:
        raise UnknownModelError(
            f"{name!r} is neither a pretrained name nor an existing .ckpt/.safetensors file; "
            f"{did_you_mean(name, _pretrained)}"
            "`zoo list --pretrained` shows the pretrained names"
        ) from None


# -- files -------------------------------------------------------------------------------------------
def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str, *, fix: str | None = None) -> None:
    """Refuse a file whose sha256 is not ``expected``; ``fix`` says how to get the right one."""
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"{path} has sha256 {actual}, expected {expected}: the file is corrupted, truncated or not the "
            f"published one; {fix or 'delete it and download it again'}"
        )


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and bytes, in name order: what a zoo safetensors file records
    of its tensor data, so a changed byte anywhere in them is found on load without an outside hash."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_safetensors(model: ZooModule, path: str | os.PathLike, *, dtype: torch.dtype | None = None) -> str:
    """Write ``model``'s weights and what rebuilds it; returns the file's sha256.

    ``dtype`` (e.g. ``torch.float16``) stores the floating-point tensors in that type to halve the file;
    integer buffers (batch-norm counters) are kept. Loading casts them back to the model's own dtype, so a
    half-precision file gives a float32 model (whose weights are the rounded values).
    Written to a temporary file and renamed, so an interrupted save never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        if not dtype.is_floating_point:
            raise WeightsError(f"dtype must be a floating-point type (torch.float16, torch.bfloat16), got {dtype}")
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    hparams = {k: v for k, v in model.hparams.items() if not k.startswith("_")}
    record = model.file_record()
    metadata = {META_CLASS_PATH: record["class_path"], META_FORMAT: str(record["format"]),
                META_HPARAMS: json.dumps(hparams), META_TENSORS_SHA256: tensors_sha256(tensors)}
    if record["model"] is not None:
        metadata[META_MODEL] = record["model"]
    write_atomically(path, lambda f: f.write(safetensors_bytes(tensors, metadata=metadata)))
    return sha256_of(path)


def load_safetensors(
    path: str | os.PathLike, *, sha256: str | None = None, map_location: str | torch.device = "cpu"
) -> ZooModule:
    """Rebuild a model from a zoo safetensors file (hash-checked when ``sha256`` is given); eval mode."""
    if not Path(path).is_file():
        raise WeightsError(f"no such weights file: {path}")
    if sha256 is not None:
        verify_sha256(path, sha256)
    try:

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state_dict = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path} is not a readable safetensors file ({err}); it may be truncated") from None
    if META_CLASS_PATH not in metadata or META_HPARAMS not in metadata:
        raise WeightsError(f"{path} has no zoo metadata ({META_CLASS_PATH}, {META_HPARAMS}); save it with zoo")
    recorded = metadata.get(META_TENSORS_SHA256)  # files of format 1 have none; their Weights entries a sha256
    if recorded is not None and tensors_sha256(state_dict) != recorded:
        raise WeightsError(
            f"the tensor data of {path} do not match the sha256 recorded in the file: it was changed or corrupted "
            "after zoo wrote it; use an intact copy (or save the model again)"
        )
    record = {"model": metadata.get(META_MODEL), "class_path": metadata[META_CLASS_PATH],
              "format": int(metadata.get(META_FORMAT, 1))}
    return _build(record, json.loads(metadata[META_HPARAMS]), state_dict, path)


def read_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A Lightning checkpoint's dict (weights_only: no code runs), or a WeightsError saying what the file is not."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"no such file: {path}") from None
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, KeyError ... for bad files
        raise WeightsError(
            f"cannot read checkpoint {path}: it is not a file torch.save wrote, or it is truncated "
            f"({type(err).__name__}: {str(err)[:80]}); give a .ckpt that zoo fit wrote"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise WeightsError(f"{path} is not a Lightning checkpoint (no state_dict in it); write it with zoo fit")
    return checkpoint


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> ZooModule:
    """Rebuild a model from a Lightning checkpoint written by ``zoo fit`` (weights_only: no code runs)."""
    checkpoint = read_checkpoint(path, map_location=map_location)
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    record = dict(checkpoint.get(CHECKPOINT_KEY, {}))
    record.setdefault("class_path", hparams.get("_class_path"))  # a LightningCLI run records its class there
    record.setdefault("format", 1)
    if record.get("model") is None and record["class_path"] is None:
        raise WeightsError(f"{path} was not written by a zoo model (no class path in it); load it with its own class")
    return _build(record, hparams, checkpoint["state_dict"], path)


def load(name_or_path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> ZooModule:
    """A model in eval mode from a pretrained name, a ``.safetensors`` file or a Lightning ``.ckpt``."""
    path = Path(name_or_path)
    if path.suffix == ".ckpt" or path.suffix == ".safetensors":
        if not path.is_file():
            raise WeightsError(f"no such file: {path}")
        if path.suffix == ".ckpt":
            return load_checkpoint(path, map_location=map_location)
        return load_safetensors(path, map_location=map_location)
    return get_weights(str(name_or_path)).load(map_location=map_location)


def model_class(record: dict[str, Any], source: Any) -> type[ZooModule]:
    """The class a file's record names, through the registry only: its registry name, else its class path
    among the registered classes'. Nothing the file names is imported."""
    classes = registered_classes()
    if record.get("model") is not None:
        if record["model"] not in classes:
            raise WeightsError(
                f"{source} holds a {record['model']!r} model, which this zoo does not register; "
                f"{did_you_mean(record['model'], classes)}upgrade zoo or load it with the version that wrote it"
            )
        return classes[record["model"]]
    by_path = {class_path(cls): cls for cls in classes.values()}
    by_path.update({f"zoo.methods.{cls.__name__}": cls for cls in classes.values()})  # recipes' re-exported paths
    if record["class_path"] not in by_path:
        raise WeightsError(
            f"{source} names class {record['class_path']!r}, which is not a registered zoo model; zoo.load rebuilds "
            "registered models only (`zoo list`), so nothing it names is imported"
        )
    return by_path[record["class_path"]]


def _build(
    record: dict[str, Any], hparams: dict[str, Any], state_dict: dict[str, torch.Tensor], source: Any
) -> ZooModule:
    cls = model_class(record, source)
    version = int(record.get("format", 1))
    hparams = {k: v for k, v in hparams.items() if not k.startswith("_")}  # "_" keys are Lightning's own
    if version < FILE_FORMAT:
        hparams = cls.upgrade_hparams(hparams, version)
        state_dict = cls.upgrade_state_dict(dict(state_dict), version)
    elif version > FILE_FORMAT:
        raise WeightsError(f"{source} has file format {version}, newer than this zoo's {FILE_FORMAT}; upgrade zoo")
    bad = non_finite_tensors(state_dict)
    if bad:
        raise WeightsError(
            f"{source} holds non-finite weights ({bad[0]} and {len(bad) - 1} more): it was saved from a diverged "
            "run; load an earlier checkpoint of it"
        )
    model = cls(**hparams)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise WeightsError(
            f"weights in {source} do not fit {cls.__name__} built from its hyperparameters: {err}"
        ) from None
    return model.eval()


def _download(url: str, path: Path, sha256: str) -> None:
    """Fetch ``url`` to ``path`` through a temporary file; keep it only if the hash matches."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        torch.hub.download_url_to_file(url, str(tmp), progress=True)
        verify_sha256(tmp, sha256)
        os.replace(tmp, path)
    except WeightsError:
        raise
    except Exception as err:  # URLError, HTTPError, timeouts: all mean the same thing to the user
        raise WeightsError(
            f"cannot download {url} ({err}); on an offline machine download it elsewhere and place it at {path}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
