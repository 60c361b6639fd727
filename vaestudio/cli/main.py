"""The `vaestudio` command: no arguments opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import sys

from vaestudio import __version__
from vaestudio.cli.sheet_command import add_commands as add_sheet_commands
from vaestudio.core.errors import VaeStudioError


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding datasets in torchvision's layout "
                        "(default: $VAESTUDIO_DATA_DIR, then the user data folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaestudio", description="Train a VAE on 28x28 images and explore "
                                     "its latent space. With no command, opens the VAE Studio window.")
    parser.add_argument("--version", action="version", version=f"vaestudio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model headless")
    train.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, kmnist, idx:FOLDER or images:FOLDER")
    train.add_argument("--model", default="mlp", choices=["mlp", "conv"])
    train.add_argument("--epochs", type=int, default=10, help="total epochs (with --resume: the new total)")
    train.add_argument("--latent-dim", type=int, default=20)
    train.add_argument("--hidden", type=int, default=400)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE)")
    train.add_argument("--kl-warmup", type=float, default=0.0, help="epochs over which beta ramps up from 0")
    train.add_argument("--pixels", default="continuous", choices=["continuous", "binarized"])
    train.add_argument("--seed", type=int, default=1)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--out", help="model file, saved after every epoch (default: model.safetensors, "
                       "or the resumed file)")
    train.add_argument("--resume", metavar="MODEL", help="continue training a saved model")
    _add_data_options(train)

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
    from vaestudio.cli import commands
    handler = {"train": commands.train, "eval": commands.evaluate, "data": commands.data,
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
