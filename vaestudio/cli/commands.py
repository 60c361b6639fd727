"""The headless subcommands; each is a thin layer over the core."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from vaestudio.cli.sheet_command import export_table, sheet  # noqa: F401 (handlers of `vaestudio sheet` and `vaestudio export`)
from vaestudio.core.console import ProgressBar
from vaestudio.core.data.datasets import load_split
from vaestudio.core.data.fetching import fetch_dataset, list_datasets, writable_data_dir
from vaestudio.core.data.paths import data_search_dirs
from vaestudio.core.data.shapes import make_shapes
from vaestudio.core.errors import ConfigError, DatasetError
from vaestudio.core.models.history import MAX_IWAE_SAMPLES
from vaestudio.core.models.model_files import open_model
from vaestudio.core.training.devices import resolve_device
from vaestudio.core.training.evaluation import evaluate as evaluate_model


def _print_progress(bar: ProgressBar):
    def show(message: str, fraction: float | None) -> None:
        if fraction is None or not bar.enabled:
            bar.clear()
            print(message, file=sys.stderr)
        else:
            bar.update(fraction, message)
    return show


def finite_or_null(value):
    """`value` with every NaN or infinite float replaced by None: JSON has no Infinity or NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def evaluate(args: argparse.Namespace) -> int:
    if not 0 <= args.iwae_samples <= MAX_IWAE_SAMPLES:
        raise ConfigError(f"--iwae-samples must be from 0 to {MAX_IWAE_SAMPLES:,} (got {args.iwae_samples}).")
    device = resolve_device(args.device)
    saved = open_model(args.model)
    dataset = args.dataset or saved.training.dataset
    test = load_split(dataset, "test", data_dir=args.data_dir, progress=_print_progress(ProgressBar()),
                      image_size=saved.config.image_size, channels=saved.config.channels)
    model = saved.model.to(device)
    result = evaluate_model(model, test.images, pixels=saved.training.pixels,
                            iwae_samples=args.iwae_samples, seed=saved.training.seed)
    summary = {"model": str(args.model), "dataset": dataset, "epoch": saved.epoch,
               "model_config": saved.config.to_dict(), **result.to_dict()}
    if args.json:
        print(json.dumps(finite_or_null(summary), allow_nan=False))
        return 0
    config = saved.config
    shape = f"{config.image_size}x{config.image_size} {'grayscale' if config.channels == 1 else 'colour'}"
    print(f"{args.model}: {config.kind} VAE, latent {config.latent_dim}, {shape}, epoch {saved.epoch}, "
          f"on {dataset} ({result.images:,} test images)")
    print(f"  test loss (negative ELBO)  {result.loss:9.3f} nats per image")
    print(f"                             {result.bits_per_dim:9.4f} bits/dim ({config.pixels:,} values an image)")
    print(f"  reconstruction             {result.reconstruction:9.3f}")
    print(f"  KL                         {result.kl:9.3f}")
    if result.iwae is not None:
        print(f"  {f'IWAE bound (K={result.iwae_samples})':<26} {result.iwae:9.3f}")
    print(f"  active units               {result.active_units} of {saved.config.latent_dim}")
    return 0


def data(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        for info in list_datasets(args.data_dir):
            missing = "not made yet" if info.name == "shapes" else "not downloaded"
            where = str(info.location) if info.available else missing
            print(f"{info.name:<14} {info.title:<16} {where}")
        print("Also: idx:FOLDER (MNIST-format IDX files) and images:FOLDER (one sub-folder per class); "
              "`vaestudio data make shapes` makes the shapes dataset.")
        return 0
    bar = ProgressBar()
    if args.data_command == "make":
        target = Path(args.data_dir).expanduser() if args.data_dir else writable_data_dir(None)
        if target is None:
            raise DatasetError(f"No data folder can be written ({' or '.join(map(str, data_search_dirs()))}): "
                               "give one you can write to with --data-dir FOLDER.")
        made = make_shapes(target, size=args.size, seed=args.seed, count=args.count, progress=_print_progress(bar))
        print(f"Made {made.count:,} shapes at {made.size}x{made.size} (seed {made.seed}) in {made.folder}; "
              "train on them with --dataset shapes.")
        return 0
    root = fetch_dataset(args.name, data_dir=args.data_dir, progress=_print_progress(bar))
    bar.clear()
    print(f"{args.name} is ready in {root}.")
    return 0
