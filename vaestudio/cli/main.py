"""The `vaestudio` command: no arguments opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import sys

from vaestudio import __version__
from vaestudio.cli.sheet_command import add_commands as add_sheet_commands
from vaestudio.cli.train_command import add_train_command
from vaestudio.core.errors import VaeStudioError


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding datasets in torchvision's layout "
                        "(default: $VAESTUDIO_DATA_DIR, then the user data folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaestudio", description="Train a VAE on 28x28 images and explore "
                                     "its latent space. With no command, opens the VAE Studio window.")
    parser.add_argument("--version", action="version", version=f"vaestudio {__version__}")
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
    fetch.add_argument("name", help="mnist, fashion-mnist or kmnist")
    _add_data_options(fetch)
    listing = data_commands.add_parser("list", help="the named datasets and whether they are here")
    _add_data_options(listing)
    add_sheet_commands(commands, _add_data_options)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from vaestudio.gui.app import run_app
        return run_app()
    from vaestudio.cli import commands, train_command
    handler = {"train": train_command.train, "eval": commands.evaluate, "data": commands.data,
               "sheet": commands.sheet, "export": commands.export_table}[args.command]
    try:
        return handler(args)
    except VaeStudioError as error:
        print(f"vaestudio: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nvaestudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
