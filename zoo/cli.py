"""The ``zoo`` command.

    zoo fit|validate|test --config recipes/<method>/<dataset>.yaml [--trainer.* ...] [--model.* ...]
    zoo fit --resume <run folder> [--trainer.* ...]
    zoo sample <pretrained-name|file.ckpt|file.safetensors> --n 64 --out grid.png [--interpolate --steps 8]
    zoo list [PATTERN] [--pretrained]
    zoo download <pretrained-name>
    zoo evaluate <pretrained-name|file.ckpt|file.safetensors> --data digits --metrics fid,kid,is,pr,nll

``fit``/``validate``/``test`` are LightningCLI (subclass mode: any zoo model, generative or not, and any
datamodule, one-domain or two); the model's ``in_shape`` and ``num_classes`` are linked from the datamodule's
``shape`` and ``num_classes``. Errors a user can fix (``ZooError``) print one line and exit 2, with no
traceback.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)
from torchvision.utils import save_image

from zoo.errors import ConfigError, ZooError
from zoo.loggers import run_dir

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


class SaveConfigToRunDir(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` in the run folder, next to ``checkpoints/``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, folder / self.config_filename, skip_none=False, overwrite=True)


class ZooCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The data decides the image shape (and its resizing) and the number of classes; the model reads them,
        # so they cannot disagree. A model without a num_classes argument is not given one.
        parser.link_arguments("data.shape", "model.init_args.in_shape", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Sequence[str]) -> None:
        # `main` always passes the arguments (sys.argv[1:] for the `zoo` command); Lightning's own version
        # warns on every run that args were given beside a command line.
        self.config = parser.parse_args(list(args))


def resume_arguments(args: Sequence[str]) -> list[str]:
    """``fit --resume RUN_DIR [overrides]`` as LightningCLI arguments that continue that very run: its saved
    config, its ``checkpoints/last.ckpt`` (weights, optimizers, loops, callbacks' state with best-score
    tracking, random generators), and its logger version, so the run folder, the logger run and the
    checkpoint files go on where they were. Overrides after it apply on top (``--trainer.max_epochs=400``
    extends a finished run)."""
    args = list(args)
    at = next(i for i, a in enumerate(args) if a == "--resume" or a.startswith("--resume="))
    if args[at].startswith("--resume="):
        folder, rest = args[at].split("=", 1)[1], args[at + 1:]
    elif at + 1 < len(args):
        folder, rest = args[at + 1], args[at + 2:]
    else:
        raise ConfigError("--resume needs a run folder, e.g. zoo fit --resume runs/vae/digits/zoo/<run id>")
    run = Path(folder)
    config, last = run / "config.yaml", run / "checkpoints" / "last.ckpt"
    for path, what in ((config, "config.yaml"), (last, "checkpoints/last.ckpt")):
        if not path.is_file():
            raise ConfigError(
                f"--resume {folder}: no {what} there; give the folder of a run `zoo fit` wrote (it holds "
                f"config.yaml and checkpoints/), e.g. runs/vae/digits/zoo/<run id>"
            )
    if any(a == "--config" or a.startswith("--config=") or a == "--ckpt_path" or a.startswith("--ckpt_path=")
           for a in args[:at] + rest):
        raise ConfigError("--resume takes the run's own config.yaml and last.ckpt; drop --config/--ckpt_path")
    resumed = [*args[:at], "--config", str(config), "--ckpt_path", str(last)]
    logger = (yaml.safe_load(config.read_text()).get("trainer") or {}).get("logger")
    if isinstance(logger, dict) and "class_path" in logger:
        # Lightning's loggers (wandb, CSV, TensorBoard) keep a run in <save_dir>/<name>/<version> and take
        # `version` to continue one (wandb's is its run id); from any working folder
        resumed += [f"--trainer.logger.init_args.version={run.name}",
                    f"--trainer.logger.init_args.save_dir={run.parent.parent}"]
    return resumed + rest


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


def lightning_main(args: Sequence[str]) -> None:
    import zoo  # noqa: F401  registers the methods
    from zoo.methods import ZooModule

    quiet_lightning()
    try:
        cli = ZooCLI(
            ZooModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=SaveConfigToRunDir,
            args=list(args),
            auto_configure_optimizers=False,  # methods build their optimizers from injected factories
        )
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


def sample_main(opts: argparse.Namespace) -> None:
    import zoo
    from zoo.capabilities import DECODE, SAMPLE, require

    model = zoo.load(opts.model)
    generator = torch.Generator().manual_seed(opts.seed)
    if opts.interpolate:
        from zoo.latent import interpolation_grid

        require(model, DECODE, to="walk a latent code (--interpolate)", name=opts.model)
        images, nrow, what = interpolation_grid(model, opts.n, opts.steps, generator=generator), opts.steps, "walks"
    else:
        require(model, SAMPLE, to="sample", name=opts.model)
        images, nrow, what = model.sample(opts.n, generator=generator), opts.nrow, "samples"
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    save_image(images, opts.out, nrow=nrow)
    print(f"wrote {opts.n} {what} of {opts.model} to {opts.out}")


def list_main(opts: argparse.Namespace) -> None:
    import zoo

    if opts.pretrained:
        print(pretrained_table(zoo.list_pretrained(opts.pattern)))
    else:
        print("\n".join(zoo.list_models(opts.pattern)))


def pretrained_table(names: Sequence[str]) -> str:
    """One line per pretrained entry: its data, size, and headline numbers under the recorded protocol."""
    from zoo.weights import get_weights

    if not names:
        return "no pretrained weights match"
    rows = [("name", "dataset", "params", "dtype", "FID", "IS", "NLL", "recipe")]
    for name in names:
        meta = get_weights(name).meta
        metrics = meta.get("metrics", {})

        def first(prefix: str, digits: int) -> str:
            value = next((v for k, v in metrics.items() if k.startswith(prefix) and not k.endswith("_std")), None)
            return "-" if value is None else f"{value:.{digits}f}"

        rows.append((
            name, meta["dataset"], f"{meta['num_params'] / 1e6:.2f}M", meta.get("dtype", "-"),
            first("fid_", 1), first("is_", 2), first("nll", 1), meta["recipe"],
        ))
    fid_names = sorted({k for n in names for k in get_weights(n).meta.get("metrics", {}) if k.startswith("fid_")})
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append(f"FID/IS on the dataset's domain extractor ({', '.join(fid_names)}); NLL in nats per image. "
                 "Full protocol: zoo.weights.get_weights(name).meta")
    return "\n".join(lines)


def download_main(opts: argparse.Namespace) -> None:
    from zoo.weights import get_weights

    print(get_weights(opts.name).path(download=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="A PyTorch Lightning model zoo of deep generative models.",
        epilog=(
            "Methods stand on family bases: single-objective models write objective(batch); methods with several "
            "optimizers declare players (one optimizer and its nets each) and write objective(player, batch, "
            "cache), while the players engine owns the loop (order, n_critic-style periods, EMA, clipping, "
            "schedulers, DDP). `zoo list` shows the methods. Run `zoo <command> --help` for a command's options."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, what in (
        ("fit", "train a model from a recipe: zoo fit --config recipes/vae/digits.yaml; continue an interrupted "
                "or finished run in its own folder: zoo fit --resume RUN_DIR"),
        ("validate", "evaluate a model on the validation split (LightningCLI)"),
        ("test", "evaluate a model on the test split (LightningCLI)"),
    ):
        sub.add_parser(name, help=what, add_help=False)
    p = sub.add_parser("sample", help="write a PNG grid of samples from a pretrained model or a checkpoint")
    p.add_argument(
        "model", help="pretrained name (zoo list --pretrained), a .ckpt from zoo fit, or a .safetensors file"
    )
    p.add_argument("--n", type=_positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", default="samples.png", help="output PNG (default samples.png)")
    p.add_argument("--nrow", type=_positive_int, default=8, help="images per grid row (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise (default 0)")
    p.add_argument(
        "--interpolate",
        action="store_true",
        help="latent walks instead (DCGAN Sec. 6.1): --n rows, each from one random z to another in --steps images",
    )
    p.add_argument("--steps", type=_at_least_two, default=8, help="images per walk with --interpolate (default 8)")
    p = sub.add_parser("list", help="list registered models (or pretrained weights with --pretrained)")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch filter, e.g. 'vae*'")
    p.add_argument("--pretrained", action="store_true", help="list pretrained weights instead of models")
    p = sub.add_parser("download", help="download and verify a pretrained model's weights into $ZOO_HOME")
    p.add_argument("name", help="pretrained name")
    p = sub.add_parser("evaluate", help="score a model (FID/KID/IS/precision-recall/NLL); JSON with its protocol")
    from zoo.metrics.evaluate import add_arguments as add_evaluate_arguments

    add_evaluate_arguments(p)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (both ends of the walk), got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
            if argv[0] == "fit" and any(a == "--resume" or a.startswith("--resume=") for a in argv):
                argv = resume_arguments(argv)
            lightning_main(argv)
            return 0
        opts = build_parser().parse_args(argv)
        if opts.command == "evaluate":
            from zoo.metrics.evaluate import evaluate_main

            evaluate_main(opts)
            return 0
        {"sample": sample_main, "list": list_main, "download": download_main}[opts.command](opts)
        return 0
    except SystemExit as exit_:  # argparse/jsonargparse usage errors and --help: already printed
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except Exception as err:
        zoo_error = _zoo_error(err)
        if zoo_error is None:
            raise
        print(f"zoo: error: {zoo_error}", file=sys.stderr)
        return getattr(zoo_error, "exit_code", 2)


def _zoo_error(err: BaseException | None) -> Exception | None:
    """``err`` itself, or the user error it was raised from: jsonargparse re-raises an error of a class's
    ``__init__`` (a recipe's bad hyperparameter) as a ValueError ``from`` it, with a long dump around it.

    A FileNotFoundError counts as a user error too: it names a path the user gave (``--ckpt_path``)."""
    while err is not None:
        if isinstance(err, (ZooError, FileNotFoundError)):
            return err
        err = err.__cause__
    return None


if __name__ == "__main__":
    sys.exit(main())
