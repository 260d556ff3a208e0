"""The LightningCLI behind ``zoo fit|validate|test``: imported only by those subcommands (it loads Lightning,
torch and every method), so ``zoo --help`` and ``zoo list`` stay fast.

``ZooCLI`` runs in subclass mode (any zoo model, generative or not, and any datamodule, one-domain or two);
the model's ``in_shape`` and ``num_classes`` are linked from the datamodule's ``shape`` and ``num_classes``.
jsonargparse's multi-line errors become one line (``one_line``), with a suggestion for a misspelt option.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import lightning as L
import torch
from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)

from zoo.errors import ConfigError
from zoo.loggers import run_dir


class SaveConfigToRunDir(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` in the run folder, next to ``checkpoints/``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, folder / self.config_filename, skip_none=False, overwrite=True)


class ZooArgumentParser(LightningArgumentParser):
    """LightningCLI's parser that raises its errors (as jsonargparse's own nested parsers do) instead of
    printing the usage text and a nested dump; ``lightning_main`` turns them into one line."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:  # type: ignore[override]
        raise argparse.ArgumentError(None, message) from ex


def one_line(message: str) -> str:
    """jsonargparse's multi-line error as one line: the key, what was wrong, and the given value, with a
    suggestion for a misspelt option."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Given value type:", "Subtypes:", "Errors:",
                                                             "- Expected a <class 'NoneType'>"))]
    text = "; ".join(line.lstrip("- ") for line in lines)
    text = re.sub(r"Does not validate against any of the Union subtypes; ", "", text)
    text = re.sub(r"Problem with given class_path '([^']+)':; ", r"\1: ", text)
    text = re.sub(r'Parser key "([^"]+)":; ', r"--\1: ", text)
    text = re.sub(r"Expected a <class '(\w+)'>", r"expected a(n) \1", text)
    text = re.sub(r"; Given value: (\{|NestedArg\().*", "", text)  # a dump of the whole section: no help
    unknown = re.search(r"(?:Key|Option) '([\w.]+)' is not (?:expected|accepted)", text) or re.search(
        r"Unrecognized arguments: --([\w.]+)", text)
    if unknown:
        text += did_you_mean_option(unknown.group(1))
    return text if len(text) <= 400 else text[:397] + "..."


def did_you_mean_option(key: str) -> str:
    """'; did you mean latent_dim?' for a misspelt init argument of a zoo model, datamodule or the Trainer."""
    import difflib

    import zoo.methods  # noqa: F401  registers the methods (subclass mode lists ZooModule's subclasses)
    from zoo.methods.base import init_arguments
    from zoo.registry import registered_classes

    name = key.rsplit(".", 1)[-1]
    known: set[str] = set(inspect.signature(L.Trainer.__init__).parameters)
    for cls in registered_classes().values():
        known |= init_arguments(cls)
    for module in ("zoo.data",):
        package = importlib.import_module(module)
        for value in vars(package).values():
            if isinstance(value, type) and issubclass(value, L.LightningDataModule):
                known |= init_arguments(value)
    close = difflib.get_close_matches(name, sorted(known - {"self"}), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


class ZooCLI(LightningCLI):
    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        trainer = config.get("trainer") if config is not None else None
        if trainer is not None and trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) in (None, -1) \
                and trainer.get("max_time") is None:
            raise ConfigError(
                "--trainer.max_epochs=-1 trains forever (no max_steps or max_time set); give a number of epochs, "
                "or keep -1 with --trainer.max_time=00:01:00:00 (dd:hh:mm:ss)"
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The data decides the image shape (and its resizing) and the number of classes; the model reads them,
        # so they cannot disagree. A model without a num_classes argument is not given one.
        parser.link_arguments("data.shape", "model.init_args.in_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Sequence[str]) -> None:
        # `main` always passes the arguments (sys.argv[1:] for the `zoo` command); Lightning's own version
        # warns on every run that args were given beside a command line.
        self.config = parser.parse_args(list(args))


class _Drop(logging.Filter):
    def __init__(self, *needles: str) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in self.needles)


def quiet_lightning() -> None:
    """Drop the lines of a run that are not about the run: Lightning's advertisement for its paid logger and a
    deprecation inside Lightning's own pytree helper (neither is anything the user can act on)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_Drop("litlogger"))
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def checkpoint_given(args: Sequence[str]) -> str | None:
    """The value of ``--ckpt_path`` in a LightningCLI command line, if any."""
    for i, arg in enumerate(args):
        if arg.startswith("--ckpt_path="):
            return arg.split("=", 1)[1]
        if arg == "--ckpt_path" and i + 1 < len(args):
            return args[i + 1]
    return None


def lightning_main(args: Sequence[str]) -> None:
    import zoo.methods  # noqa: F401  registers the methods (subclass mode lists ZooModule's subclasses)
    from zoo.methods import ZooModule

    quiet_lightning()
    ckpt = checkpoint_given(args)
    if ckpt is not None and not Path(ckpt).is_file():  # Lightning finds out after the run folder is written
        raise ConfigError(f"--ckpt_path {ckpt}: no such file; give a .ckpt that zoo fit wrote (its checkpoints/)")
    if ckpt is not None:
        from zoo.weights import read_checkpoint

        # read before Lightning does: a file that is no checkpoint, or one of another model, is one line here
        ckpt_model = dict(read_checkpoint(ckpt).get("zoo", {})).get("model")
    try:
        cli = ZooCLI(
            ZooModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=SaveConfigToRunDir,
            parser_class=ZooArgumentParser,
            args=list(args),
            auto_configure_optimizers=False,  # methods build their optimizers from injected factories
        )
    except argparse.ArgumentError as err:
        hint = ""
        if ckpt is not None and Path(ckpt).is_file():
            hint = f"; --ckpt_path {ckpt} holds a {ckpt_model or 'model of unknown kind'}: give a recipe of that model"
        raise ConfigError(one_line(str(err)) + hint) from None
    else:
        if args[0] == "fit" and cli.trainer.is_global_zero:
            folder = run_dir(cli.trainer)
            last = cli.trainer.checkpoint_callback.last_model_path if cli.trainer.checkpoint_callback else ""
            print(f"run folder: {folder}" + (f"; last checkpoint: {last}; continue with: zoo fit --resume {folder}"
                                            if last else ""))
    finally:
        # Close the wandb run: a second run in the same process (a notebook, a test) would otherwise be
        # logged into this one, and its run folder reused.
        wandb = sys.modules.get("wandb")
        if wandb is not None and wandb.run is not None:
            wandb.finish()
        close_process_group()


def close_process_group() -> None:
    """End a DDP run's process group explicitly, all ranks together.

    Lightning leaves it open; left to interpreter exit, gloo (CPU DDP) sometimes aborts the process with
    "terminate called without an active exception" after training has finished (measured with torch
    2.15: 2 of 12 three-fit runs of Lightning's BoringModel; 0 of 28 with this call)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
