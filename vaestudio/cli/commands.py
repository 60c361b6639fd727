"""The headless subcommands; each is a thin layer over the core."""

from __future__ import annotations

import argparse
import json
import sys
import time

from vaestudio.cli.sheet_command import export_table, sheet  # noqa: F401 (handlers of `vaestudio sheet` and `vaestudio export`)
from vaestudio.core.console import ProgressBar, format_duration
from vaestudio.core.data.datasets import fetch_dataset, list_datasets, load_dataset
from vaestudio.core.errors import ConfigError
from vaestudio.core.models.history import EpochResult, StepProgress
from vaestudio.core.models.model_files import check_model_path, open_model, save_model
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import device_label, resolve_device
from vaestudio.core.training.evaluation import evaluate as evaluate_model
from vaestudio.core.training.trainer import Trainer, TrainingDivergedError


def _print_progress(bar: ProgressBar):
    def show(message: str, fraction: float | None) -> None:
        if fraction is None or not bar.enabled:
            bar.clear()
            print(message, file=sys.stderr)
        else:
            bar.update(fraction, message)
    return show


def _training_config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(
        dataset=args.dataset, model=ModelConfig(args.model, args.latent_dim, args.hidden), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, beta=args.beta, kl_warmup_epochs=args.kl_warmup,
        pixels=args.pixels, seed=args.seed, device=args.device,
    ).validate()


def _epoch_line(result: EpochResult, latent_dim: int) -> str:
    test = result.test
    return (f"epoch {result.epoch:>3}/{result.epochs}  train {result.train_loss:8.3f}  test {test.loss:8.3f} "
            f"(recon {test.reconstruction:.3f}, KL {test.kl:.3f})  active units {test.active_units}/{latent_dim}  "
            f"{result.seconds:5.1f} s  {result.samples_per_second:,.0f} img/s")


def train(args: argparse.Namespace) -> int:
    bar = ProgressBar()
    resume = open_model(args.resume) if args.resume else None
    if resume is not None:
        config = TrainingConfig.from_dict({**resume.training.to_dict(), "model": resume.config.to_dict(),
                                           "epochs": args.epochs, "device": args.device}).validate()
        if resume.epoch >= config.epochs:
            raise ConfigError(f"{args.resume} has already been trained for {resume.epoch} epochs; "
                              f"ask for more with --epochs (e.g. --epochs {resume.epoch + 10}).")
    else:
        config = _training_config(args)
    out = check_model_path(args.out or args.resume or "model.safetensors")
    data = load_dataset(config.dataset, data_dir=args.data_dir, progress=_print_progress(bar))
    trainer = Trainer(config, data,
                      model=resume.model if resume else None,
                      optimizer_state=resume.optimizer_state if resume else None,
                      history=resume.history if resume else None,
                      start_epoch=resume.epoch if resume else 0)
    print(f"Training a {config.model.kind} VAE (latent {config.model.latent_dim}, hidden {config.model.hidden}) on "
          f"{data.train.name}: {len(data.train):,} training and {len(data.test):,} test images, "
          f"{device_label(trainer.device)}, epochs {trainer.epoch + 1}-{config.epochs}.", file=sys.stderr)
    started = time.perf_counter()

    def save() -> None:
        save_model(out, trainer.model, config, epoch=trainer.epoch, history=trainer.history,
                   class_names=trainer.class_names, optimizer=trainer.optimizer)

    try:
        for record in trainer.run():
            if isinstance(record, StepProgress):
                done = (record.epoch - 1 + record.batch / record.batches) / config.epochs
                bar.update(record.batch / record.batches,
                           f"epoch {record.epoch}/{config.epochs}  loss {record.loss:7.2f}  "
                           f"{record.samples_per_second:,.0f} img/s  run {done * 100:4.1f}%")
            else:
                bar.clear()
                print(_epoch_line(record, config.model.latent_dim), flush=True)
                save()
    except TrainingDivergedError:
        bar.clear()
        save()
        print(f"The last finite weights (epoch {trainer.epoch}) are saved in {out}.", file=sys.stderr)
        raise
    except KeyboardInterrupt:
        bar.clear()
        trainer.rewind_to_epoch_start()
        save()
        print(f"\nInterrupted during epoch {trainer.epoch + 1}: the model after epoch {trainer.epoch} is saved in "
              f"{out}; continue with --resume {out}.", file=sys.stderr)
        return 130
    print(f"Saved {out} after {trainer.epoch} epochs in {format_duration(time.perf_counter() - started)}.",
          file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.iwae_samples < 0:
        raise ConfigError("--iwae-samples must be 0 or more.")
    saved = open_model(args.model)
    device = resolve_device(args.device)
    dataset = args.dataset or saved.training.dataset
    data = load_dataset(dataset, data_dir=args.data_dir, progress=_print_progress(ProgressBar()))
    model = saved.model.to(device)
    result = evaluate_model(model, data.test.images, pixels=saved.training.pixels,
                            iwae_samples=args.iwae_samples, seed=saved.training.seed)
    summary = {"model": str(args.model), "dataset": dataset, "epoch": saved.epoch,
               "model_config": saved.config.to_dict(), **result.to_dict()}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.model}: {saved.config.kind} VAE, latent {saved.config.latent_dim}, epoch {saved.epoch}, "
          f"on {dataset} ({result.images:,} test images)")
    print(f"  test loss (negative ELBO)  {result.loss:9.3f} nats")
    print(f"  reconstruction             {result.reconstruction:9.3f}")
    print(f"  KL                         {result.kl:9.3f}")
    if result.iwae is not None:
        print(f"  {f'IWAE bound (K={result.iwae_samples})':<26} {result.iwae:9.3f}")
    print(f"  active units               {result.active_units} of {saved.config.latent_dim}")
    return 0


def data(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        for info in list_datasets(args.data_dir):
            where = str(info.location) if info.available else "not downloaded"
            print(f"{info.name:<14} {info.title:<16} {where}")
        print("Also: idx:FOLDER (MNIST-format IDX files) and images:FOLDER (one sub-folder per class).")
        return 0
    bar = ProgressBar()
    root = fetch_dataset(args.name, data_dir=args.data_dir, progress=_print_progress(bar))
    bar.clear()
    print(f"{args.name} is ready in {root}.")
    return 0
