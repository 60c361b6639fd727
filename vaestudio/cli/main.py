"""The `vaestudio` command: no arguments opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from vaestudio.cli.sheet_command import add_commands as add_sheet_commands
from vaestudio.cli.train_command import add_train_command
from vaestudio.core.errors import VaeStudioError


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding datasets in torchvision's layout "
                        "(default: $VAESTUDIO_DATA_DIR, then the user data folder)")


class _VersionAction(argparse.Action):
    """`--version`: VAE Studio's version and its libraries', the device and the user data folder, one line.

    Built only when asked for (it imports torch), so that parsing stays quick.
    """

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from vaestudio.core.about import about_line

        print(about_line())
        parser.exit()


@contextlib.contextmanager
def imports_without_garbage_collection() -> Iterator[None]:
    """Import torch, Qt and the window's modules with the cyclic garbage collector paused, then freeze them.

    Importing them allocates millions of long-lived objects, and the collector walks them all
    again and again: about a tenth of the import time. Frozen (`gc.freeze`), they are never
    walked again, so the full collections that the window's first large allocations trigger
    cost milliseconds instead of a third of a second (benchmarks/startup.py).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():  # once a process: what later windows leave behind must stay collectable
            gc.freeze()
        if was_enabled:
            gc.enable()


USAGE = "vaestudio [-h] [--version] [--startup-check] [MODEL_FILE | COMMAND ...]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaestudio", usage=USAGE, description="Train a VAE on small images and "
                                     "explore its latent space. With no command, opens the VAE Studio window, showing "
                                     "MODEL_FILE (a .safetensors model or a PyTorch example state_dict) if given.")
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of VAE Studio, torch, Qt and pyqtgraph, the device and the "
                             "user data folder, and exit")
    parser.add_argument("--startup-check", action="store_true",
                        help="open the window, wait until the bundled model's latent map is drawn, print how "
                             "long that took and quit (checks an installed or frozen build; without a display "
                             "set QT_QPA_PLATFORM=offscreen)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_train_command(commands, _add_data_options)

    evaluate = commands.add_parser("eval", help="evaluate a model on its test set")
    evaluate.add_argument("model", help="a .safetensors model file (or a PyTorch example state_dict)")
    evaluate.add_argument("--iwae-samples", type=int, default=0, metavar="K",
                          help="also compute the importance-weighted bound with K samples")
    evaluate.add_argument("--dataset", help="evaluate on another dataset than the one it was trained on")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _add_data_options(evaluate)

    data = commands.add_parser("data", help="list or fetch datasets")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_commands.add_parser("fetch", help="download a dataset ahead of time")
    fetch.add_argument("name", help="mnist, fashion-mnist, kmnist or cifar10")
    _add_data_options(fetch)
    make = data_commands.add_parser("make", help="generate a built-in dataset (shapes) into the data folder")
    make.add_argument("name", choices=["shapes"], help="shapes: coloured squares, ellipses and hearts with known "
                      "factors (shape, colour, scale, rotation, x, y)")
    make.add_argument("--size", type=int, default=64, choices=[28, 32, 64], help="image side in pixels (default 64)")
    make.add_argument("--seed", type=int, default=0, help="the same seed makes the same files (default 0)")
    make.add_argument("--count", type=int, default=10_000, help="images, every tenth a test image (default 10000)")
    _add_data_options(make)
    listing = data_commands.add_parser("list", help="the named datasets and whether they are here")
    _add_data_options(listing)
    add_sheet_commands(commands, _add_data_options)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices}


def model_file_argument(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The MODEL_FILE of `vaestudio MODEL_FILE`, or None when `argv` is a command (or nothing).

    A first argument that is no command is taken as a file when it names one or looks like a
    path (a suffix or a folder in it); anything else (`vaestudio trian`) is left to the
    parser, which says which commands there are.
    """
    if not argv or argv[0].startswith("-") or argv[0] in _command_names(parser):
        return None
    first = argv[0]
    if not (Path(first).exists() or Path(first).suffix or "/" in first or os.sep in first):
        return None
    window = argparse.ArgumentParser(prog="vaestudio", usage=USAGE)
    window.add_argument("model_file", metavar="MODEL_FILE")
    return window.parse_args(argv).model_file


def _train(args: argparse.Namespace) -> int:
    """`vaestudio train`: in this process, or in several (DDP: --nproc N, or this process started by torchrun)."""
    if args.nproc != 1 or os.environ.get("WORLD_SIZE", "1") != "1":
        from vaestudio.cli import distributed_train

        return distributed_train.train(args)
    from vaestudio.cli import train_command

    return train_command.train_one_process(args)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    model_path = model_file_argument(parser, argv)
    args = parser.parse_args(argv) if model_path is None else None
    try:
        if args is None or args.command is None:
            with imports_without_garbage_collection():
                from vaestudio.gui.app import run_app
            startup_check = args is not None and args.startup_check
            return run_app(model_path=model_path, startup_check_since=started if startup_check else None)
        from vaestudio.cli import commands
        handler = {"train": _train, "eval": commands.evaluate, "data": commands.data,
                   "sheet": commands.sheet, "export": commands.export_table}[args.command]
        args.argv = argv  # `train --nproc N` starts this same command in each of its processes
        return handler(args)
    except VaeStudioError as error:
        print(f"vaestudio: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nvaestudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
