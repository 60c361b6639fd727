"""`vaestudio train`: a `TrainingRun` on the main thread, watched by the console observer.

The parser is built without importing torch (as in sheet_command.py), so that `vaestudio
--help` stays quick and the window imports torch inside its own start-up; the handlers import
the core when they run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from vaestudio.core.models.model_files import SavedModel
    from vaestudio.core.models.training_config import TrainingConfig
    from vaestudio.core.training.run import TrainingRun


def add_train_command(commands, add_data_options) -> None:
    train = commands.add_parser("train", help="train a model headless")
    train.add_argument("--dataset", default="mnist",
                       help="mnist, fashion-mnist, kmnist, cifar10, shapes, idx:FOLDER or images:FOLDER")
    train.add_argument("--model", default="auto", choices=["auto", "mlp", "conv"],
                       help="auto (default): the MLP up to 28x28, the convolutional VAE for larger images")
    train.add_argument("--image-size", type=int, choices=[28, 32, 64],
                       help="square size the images are resized (and centre-cropped) to; default: from the data")
    train.add_argument("--channels", type=int, choices=[1, 3],
                       help="1 (grayscale) or 3 (colour); default: from the data")
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
    train.add_argument("--no-fused-step", action="store_true",
                       help="train the MLP with autograd instead of its hand-written gradient (same results, slower)")
    train.add_argument("--precision", choices=["auto", "float32", "bfloat16"],
                       help="the forward pass's arithmetic: auto (default for a new model): bfloat16 for the conv VAE "
                            "where the CPU or GPU has fast native bfloat16, float32 otherwise and always for the MLP; "
                            "weights, optimiser and test loss stay float32. With --resume the default is what the "
                            "model was trained in")
    train.add_argument("--out", help="model file, saved after every epoch (default: model.safetensors, "
                       "or the resumed file)")
    train.add_argument("--resume", metavar="MODEL", help="continue training a saved model")
    train.add_argument("--quiet", action="store_true", help="no progress output, only each epoch's results")
    train.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="train with N processes on this machine (DistributedDataParallel, started through "
                            "torchrun's launcher; one per GPU, or on the CPUs with --device cpu). For several "
                            "machines run torchrun -m vaestudio train ... on each (see the README)")
    add_data_options(train)


def training_config(args: argparse.Namespace) -> TrainingConfig:
    from vaestudio.core.models.networks import ModelConfig
    from vaestudio.core.models.training_config import TrainingConfig

    return TrainingConfig(
        dataset=args.dataset, model=ModelConfig(args.model, args.latent_dim, args.hidden), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, beta=args.beta, kl_warmup_epochs=args.kl_warmup,
        pixels=args.pixels, seed=args.seed, device=args.device, fused_step=not args.no_fused_step,
        image_size=args.image_size, channels=args.channels, precision=args.precision or "auto",
    ).validate()


def prepare_training(args: argparse.Namespace) -> tuple[TrainingConfig, SavedModel | None, Path]:
    """The run's settings, the model it resumes (if any) and where it saves: checked before any data is read."""
    from vaestudio.core.errors import ConfigError
    from vaestudio.core.models.model_files import check_model_path, open_model
    from vaestudio.core.models.training_config import TrainingConfig
    from vaestudio.core.training.devices import resolve_device

    resolve_device(args.device)  # before a model file or any data is read
    resume = open_model(args.resume) if args.resume else None
    if resume is not None:
        config = TrainingConfig.from_dict({**resume.training.to_dict(), "model": resume.config.to_dict(),
                                           "epochs": args.epochs, "device": args.device,
                                           "fused_step": not args.no_fused_step,
                                           "precision": args.precision or resume.training.precision}).validate()
        if resume.epoch >= config.epochs:
            raise ConfigError(f"{args.resume} has already been trained for {resume.epoch} epochs; "
                              f"ask for more with --epochs (e.g. --epochs {resume.epoch + 10}).")
    else:
        config = training_config(args)
    out = check_model_path(args.out or args.resume or "model.safetensors")
    return config, resume, out


def train_one_process(args: argparse.Namespace) -> int:
    from vaestudio.cli.run_progress import ConsoleProgress
    from vaestudio.core.console import format_duration
    from vaestudio.core.training.run import TrainingRun
    from vaestudio.core.training.trainer import TrainingDivergedError

    config, resume, out = prepare_training(args)
    run = TrainingRun(config, out=out, resume=resume, data_dir=args.data_dir)
    run.add_observer(ConsoleProgress(quiet=args.quiet))
    started = time.perf_counter()
    try:
        run.execute()
    except TrainingDivergedError:
        print(kept_message(run, out), file=sys.stderr)
        raise
    except KeyboardInterrupt:
        print(f"\nInterrupted during epoch {run.epoch + 1}: {kept_message(run, out)}", file=sys.stderr)
        return 130
    epochs = f"{run.epoch} epoch{'' if run.epoch == 1 else 's'}"
    print(f"Saved {out} after {epochs} in {format_duration(time.perf_counter() - started)}.", file=sys.stderr)
    return 0


def kept_message(run: TrainingRun, out) -> str:
    """What is on disk after a run ended early: every epoch end was saved, a partial epoch never is."""
    if run.epochs_trained_here > 0:
        return f"the model after epoch {run.epoch} is saved in {out}; continue with --resume {out}."
    if run.start_epoch > 0:
        return f"no epoch was completed; the resumed model (epoch {run.start_epoch}) is unchanged."
    return "nothing was trained yet, so no model was saved."
