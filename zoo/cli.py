"""The ``zoo`` command.

    zoo fit|validate|test --config recipes/<method>/<dataset>.yaml [--trainer.* ...] [--model.* ...]
    zoo fit --resume <run folder> [--trainer.* ...]
    zoo sample <pretrained-name|file.ckpt|file.safetensors> --n 64 --out grid.png [--interpolate --steps 8]
    zoo complete <pretrained-name|file.ckpt|file.safetensors> --data digits --n 8 --mask bottom --out grid.png
    zoo list [PATTERN] [--pretrained]
    zoo download <pretrained-name>
    zoo evaluate <pretrained-name|file.ckpt|file.safetensors> --data digits --metrics fid,kid,is,pr,nll

``fit``/``validate``/``test`` are LightningCLI (zoo/lightning_cli.py). Errors a user can fix (``ZooError``) print
one line and exit 2, with no traceback.

This module imports neither torch nor Lightning at the top: each command imports what it needs, so
``zoo --help`` and ``zoo list`` (which reads the name index, zoo/models.json) answer in well under a second.
"""
from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from zoo.errors import ConfigError, ZooError

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")


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
    if any(a == "--config" or a.startswith("--config=") or a == "--ckpt_path" or a.startswith("--ckpt_path=")
           for a in args[:at] + rest):
        raise ConfigError("--resume takes the run's own config.yaml and last.ckpt; drop --config/--ckpt_path")
    run = Path(folder)
    config, last = run / "config.yaml", run / "checkpoints" / "last.ckpt"
    for path, what in ((config, "config.yaml"), (last, "checkpoints/last.ckpt")):
        if not path.is_file():
            raise ConfigError(
                f"--resume {folder}: no {what} there; give the folder of a run `zoo fit` wrote (it holds "
                f"config.yaml and checkpoints/), e.g. runs/vae/digits/zoo/<run id>"
            )
    import yaml

    resumed = [*args[:at], "--config", str(config), "--ckpt_path", str(last)]
    logger = (yaml.safe_load(config.read_text()).get("trainer") or {}).get("logger")
    if isinstance(logger, dict) and "class_path" in logger:
        # Lightning's loggers (wandb, CSV, TensorBoard) keep a run in <save_dir>/<name>/<version> and take
        # `version` to continue one (wandb's is its run id); from any working folder
        resumed += [f"--trainer.logger.init_args.version={run.name}",
                    f"--trainer.logger.init_args.save_dir={run.parent.parent}"]
    return resumed + rest


def sample_main(opts: argparse.Namespace) -> None:
    import torch
    from torchvision.utils import save_image

    import zoo
    from zoo.capabilities import CONDITIONAL, DECODE, SAMPLE, require

    check_image_path(opts.out, "--out")  # before the model loads: a wrong name costs nothing
    model = zoo.load(opts.model)
    generator = torch.Generator().manual_seed(opts.seed)
    if opts.interpolate and opts.traverse:
        raise ConfigError("--interpolate and --traverse draw different grids; pass one of them")
    if opts.traverse:
        from zoo.latent import traversal_grid

        require(model, DECODE, to="sweep its latent dimensions (--traverse)", name=opts.model)
        images, nrow = traversal_grid(model, opts.steps, limit=opts.limit), opts.steps
        what = f"latent traversals ({model.latent_dim} rows, one per dimension, -{opts.limit:g} to {opts.limit:g})"
    elif opts.interpolate:
        from zoo.latent import interpolation_grid

        require(model, DECODE, to="walk a latent code (--interpolate)", name=opts.model)
        images, nrow = interpolation_grid(model, opts.n, opts.steps, generator=generator), opts.steps
        what = f"{opts.n} walks"
    else:
        require(model, SAMPLE, to="sample", name=opts.model)
        if opts.label is not None:
            require(model, CONDITIONAL, to="sample a given class (--class)", name=opts.model)
            images = model.sample(opts.n, y=opts.label, generator=generator)
        else:
            images = model.sample(opts.n, generator=generator)
        nrow = opts.nrow
        what = f"{opts.n} samples" if opts.label is None else f"{opts.n} samples of class {opts.label}"
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    save_image(images, opts.out, nrow=nrow)
    print(f"wrote {what} of {opts.model} to {opts.out}")


def probe_main(opts: argparse.Namespace) -> None:
    """``zoo probe``: the linear probe's test accuracy of a model's codes, and of its untrained twin (zoo/metrics/
    probe.py), as JSON with the protocol."""
    import json

    import zoo
    from zoo.capabilities import ENCODE, require
    from zoo.metrics.evaluate import build_datamodule
    from zoo.metrics.probe import evaluate_probe

    if opts.out is not None and not str(opts.out).endswith(".json"):
        raise ConfigError(f"--out {opts.out}: the probe writes JSON; give a path ending in .json")
    model = zoo.load(opts.model).eval()
    require(model, ENCODE, to="be probed (zoo probe reads encode(x))", name=opts.model)
    datamodule, _, _ = build_datamodule(opts.data)
    if tuple(model.in_shape) != tuple(datamodule.shape):
        raise ConfigError(f"{opts.model} reads {tuple(model.in_shape)} images but --data {opts.data} yields "
                          f"{tuple(datamodule.shape)}; probe it on the data it was trained on")
    result = evaluate_probe(model, data=opts.data, n_train=opts.n_train, seed=opts.seed,
                            random_init=not opts.no_baseline)
    result = {"model": opts.model, "data": opts.data, **result}
    text = json.dumps(result, indent=2)
    if opts.out is not None:
        Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.out).write_text(text + "\n")
    print(text)


#: ``zoo complete --mask``: which pixels are missing (to be filled in), as a function of (H, W) -> (1, 1, H, W)
MASKS = {
    "bottom": "the bottom half of the rows (the image's top half given)",
    "right": "the right half of the columns (the left half given)",
}


def complete_main(opts: argparse.Namespace) -> None:
    """Fill in the missing part of test images: one row per image, the original, what the model is given (the
    missing pixels grey), then ``--samples`` completions."""
    import torch
    from torchvision.utils import save_image

    import zoo
    from zoo.capabilities import COMPLETE, CONDITIONAL, require
    from zoo.metrics.evaluate import build_datamodule, split_dataset

    check_image_path(opts.out, "--out")
    model = zoo.load(opts.model).eval()
    require(model, COMPLETE, to="complete images (zoo complete)", name=opts.model)
    datamodule, _, _ = build_datamodule(opts.data)
    if tuple(model.in_shape) != tuple(datamodule.shape):
        raise ConfigError(f"{opts.model} makes {tuple(model.in_shape)} images but --data {opts.data} yields "
                          f"{tuple(datamodule.shape)}; complete images of the data the model was trained on")
    if getattr(model, "likelihood_data", None) == "binary":  # what a binary model scores: the static bits
        test, _ = datamodule.static_binarization("test")
    else:
        test = split_dataset(datamodule, "test", None)
    if opts.n > len(test):
        raise ConfigError(f"--n {opts.n}: the test split has {len(test)} images")
    x, labels = (torch.stack(column) for column in zip(*(test[i] for i in range(opts.n))))
    height, width = model.in_shape[-2:]
    mask = torch.ones(1, 1, height, width)
    if opts.mask == "bottom":
        mask[..., height // 2:, :] = 0
    else:
        mask[..., :, width // 2:] = 0
    y = None
    if CONDITIONAL in getattr(model, "capabilities", ()):  # p(x | y): each image's own class, or --class
        y = labels.long() if opts.label is None else opts.label
    generator = torch.Generator().manual_seed(opts.seed)
    with torch.no_grad():
        completions = [model.complete(x, mask, y=y, generator=generator).cpu() if y is not None
                       else model.complete(x, mask, generator=generator).cpu() for _ in range(opts.samples)]
    given = torch.where(mask.bool(), x, torch.full_like(x, 0.5))
    grid = torch.stack([x, given, *completions], dim=1).flatten(0, 1)  # (n * (2 + samples), C, H, W)
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, opts.out, nrow=2 + opts.samples)
    print(f"wrote {opts.n} test images of {opts.data} with {MASKS[opts.mask]} missing, each completed "
          f"{opts.samples} times by {opts.model}, to {opts.out} (columns: original, given, completions)")


def check_image_path(path: str, option: str) -> None:
    """Refuse an output file whose extension no image writer knows (PIL's), naming a few that work."""
    from PIL import Image

    suffix = Path(path).suffix.lower()
    if suffix not in Image.registered_extensions():
        raise ConfigError(f"{option} {path}: {suffix or 'no extension'} is not an image format; use .png (or .jpg, "
                          ".webp, .tiff)")
    if Path(path).is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name such as {Path(path) / 'samples.png'}")


def list_main(opts: argparse.Namespace) -> None:
    # The shipped indexes, not the registries: importing the methods or the weights' code would import torch
    # (seconds); tests/test_registry.py and tests/test_pretrained.py keep the indexes equal to the registries.
    from zoo.pretrained import read_index
    from zoo.registry import filter_names, list_models, read_name_index

    if opts.pretrained:
        index = read_index()
        print(pretrained_table({name: index[name]["meta"] for name in filter_names(index, opts.pattern)}))
    else:
        names = read_name_index()
        print("\n".join(filter_names(names, opts.pattern) if names else list_models(opts.pattern)))


def pretrained_table(metas: dict[str, dict]) -> str:
    """One line per pretrained entry (``{name: meta}``): its data, size, and headline numbers under the recorded
    protocol."""
    names = sorted(metas)
    if not names:
        return "no pretrained weights match"
    rows = [("name", "dataset", "params", "dtype", "FID", "IS", "NLL", "recipe")]
    for name in names:
        meta = metas[name]
        metrics = meta.get("metrics", {})

        def first(prefix: str, digits: int) -> str:
            value = next((v for k, v in metrics.items() if k.startswith(prefix) and not k.endswith("_std")), None)
            return "-" if value is None else f"{value:.{digits}f}"

        rows.append((
            name, meta["dataset"], f"{meta['num_params'] / 1e6:.2f}M", meta.get("dtype", "-"),
            first("fid_", 1), first("is_", 2), first("nll", 1), meta["recipe"],
        ))
    fid_names = sorted({k for n in names for k in metas[n].get("metrics", {}) if k.startswith("fid_")})
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append(f"FID/IS on the dataset's domain extractor ({', '.join(fid_names)}); NLL in nats per image. "
                 "Full protocol: zoo.weights.get_weights(name).meta")
    return "\n".join(lines)


def download_main(opts: argparse.Namespace) -> None:
    from zoo.weights import get_weights

    print(get_weights(opts.name).path(download=True))


class OneLineParser(argparse.ArgumentParser):
    """argparse's usage errors as one line that names the bad value and where the help is (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(*, evaluate_options: bool = True) -> argparse.ArgumentParser:
    """The ``zoo`` command's parser; ``evaluate_options=False`` leaves out ``evaluate``'s options, whose module
    imports torch (``main`` adds them only when the command is ``evaluate``)."""
    parser = OneLineParser(
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
    p.add_argument("--seed", type=_int, default=0, help="seed of the sampling noise (default 0)")
    p.add_argument("--class", dest="label", type=_int, default=None,
                   help="conditional models: the class to sample (default: random classes)")
    p.add_argument(
        "--interpolate",
        action="store_true",
        help="latent walks instead (DCGAN Sec. 6.1): --n rows, each from one random z to another in --steps images",
    )
    p.add_argument(
        "--traverse",
        action="store_true",
        help="latent traversals instead (beta-VAE Fig. 7): one row per latent dimension, swept over --limit",
    )
    p.add_argument("--limit", type=float, default=3.0,
                   help="--traverse sweeps each dimension from -limit to limit (default 3)")
    p.add_argument("--steps", type=_at_least_two, default=8,
                   help="images per walk with --interpolate or per row with --traverse (default 8)")
    p = sub.add_parser("complete", help="fill in the missing half of test images (autoregressive models); a PNG grid")
    p.add_argument("model", help="pretrained name, a .ckpt from zoo fit, or a .safetensors file")
    p.add_argument("--data", required=True, help="dataset name (digits, fashion_mnist) or a recipe .yaml")
    p.add_argument("--n", type=_positive_int, default=8, help="first n test images (default 8)")
    p.add_argument("--mask", choices=sorted(MASKS), default="bottom",
                   help="the missing part: " + "; ".join(f"{k}: {v}" for k, v in MASKS.items()) + " (default bottom)")
    p.add_argument("--samples", type=_positive_int, default=4, help="completions per image (default 4)")
    p.add_argument("--out", default="completions.png", help="output PNG (default completions.png)")
    p.add_argument("--seed", type=_int, default=0, help="seed of the completions (default 0)")
    p.add_argument("--class", dest="label", type=_int, default=None,
                   help="conditional models: complete as this class (default: each image's own)")
    p = sub.add_parser("probe", help="linear probe of a model's codes (logistic regression on encode(x)); JSON")
    p.add_argument("model", help="pretrained name, a .ckpt from zoo fit, or a .safetensors file")
    p.add_argument("--data", required=True, help="dataset name (digits, fashion_mnist) or a recipe .yaml")
    p.add_argument("--n-train", type=_positive_int, default=None,
                   help="fit on the first n training images (default: all)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baseline: the same architecture at its random initialisation")
    p.add_argument("--seed", type=_int, default=0, help="torch seed of the baseline's initialisation (default 0)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p = sub.add_parser("list", help="list registered models (or pretrained weights with --pretrained)")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch filter, e.g. 'vae*'")
    p.add_argument("--pretrained", action="store_true", help="list pretrained weights instead of models")
    p = sub.add_parser("download", help="download and verify a pretrained model's weights into $ZOO_HOME")
    p.add_argument("name", help="pretrained name")
    p = sub.add_parser("evaluate", help="score a model (FID/KID/IS/precision-recall/NLL); JSON with its protocol")
    if evaluate_options:
        from zoo.metrics.evaluate import add_arguments as add_evaluate_arguments

        add_evaluate_arguments(p)
    return parser


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _at_least_two(text: str) -> int:
    value = _int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (both ends of the walk), got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
            if argv[0] == "fit" and any(a == "--resume" or a.startswith("--resume=") for a in argv):
                argv = resume_arguments(argv)
            from zoo.lightning_cli import lightning_main

            lightning_main(argv)
            return 0
        opts = build_parser(evaluate_options=argv[:1] == ["evaluate"]).parse_args(argv)
        if opts.command == "evaluate":
            from zoo.metrics.evaluate import evaluate_main

            evaluate_main(opts)
            return 0
        commands = {"sample": sample_main, "complete": complete_main, "probe": probe_main, "list": list_main,
                    "download": download_main}
        commands[opts.command](opts)
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
        # Lightning's own word for a bad trainer option (only raised once Lightning is imported)
        lightning_errors = sys.modules.get("lightning.fabric.utilities.exceptions")
        if lightning_errors is not None and isinstance(err, lightning_errors.MisconfigurationException):
            return ConfigError(f"{err} (check the --trainer options: accelerator, devices, strategy, precision)")
        if isinstance(err, (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError)) or (
                isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EROFS)):
            return ConfigError(f"cannot write {err.filename or 'the output'}: {err.strerror}; choose another path")
        err = err.__cause__
    return None


if __name__ == "__main__":
    sys.exit(main())
