"""The console observer of a training run: what `vaestudio train` prints while it trains.

On a terminal: a one-line bar within each epoch with the loss, images/s and the time left.
Elsewhere (a log file, a pipe, CI): a plain line every few seconds, so slow can be told from stuck.
`quiet` turns the progress off; the epoch lines (the results) are printed either way.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from vaestudio.core.console import ProgressBar, format_duration
from vaestudio.core.models.history import EpochResult, StepProgress
from vaestudio.core.training.run import RunInfo, RunObserver, TrainingRun

LINE_INTERVAL_SECONDS = 5.0


def epoch_line(result: EpochResult, latent_dim: int) -> str:
    test = result.test
    bits = f", {test.bits_per_dim:.4f} bits/dim" if test.bits_per_dim is not None else ""
    return (f"epoch {result.epoch:>3}/{result.epochs}  train {result.train_loss:8.3f}  test {test.loss:8.3f} nats"
            f"{bits} (recon {test.reconstruction:.3f}, KL {test.kl:.3f})  active units {test.active_units}/{latent_dim}  "
            f"{result.seconds:5.1f} s  {result.samples_per_second:,.0f} img/s")


def time_left(run: TrainingRun, progress: StepProgress) -> float | None:
    """Seconds to the end of the run at the current epoch's rate (evaluation not counted)."""
    if run.info is None or progress.samples_per_second <= 0:
        return None
    batch_size = run.config.batch_size
    left_in_epoch = max(run.info.train_images - progress.batch * batch_size, 0)
    left = left_in_epoch + (run.config.epochs - progress.epoch) * run.info.train_images
    return left / progress.samples_per_second


class ConsoleProgress(RunObserver):
    """Prints a run's progress to `stream` (stderr) and its epoch results to `results` (stdout)."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None, results: TextIO | None = None,
                 line_interval: float = LINE_INTERVAL_SECONDS) -> None:
        self.stream = stream or sys.stderr
        self.results = results or sys.stdout
        self.quiet = quiet
        self.bar = ProgressBar(self.stream)
        self.line_interval = line_interval
        self._last_line = time.monotonic()

    def on_loading(self, run: TrainingRun, message: str, fraction: float | None) -> None:
        if self.quiet:
            return
        if fraction is None or not self.bar.enabled:
            self.bar.clear()
            print(message, file=self.stream)
        else:
            self.bar.update(fraction, message)

    def on_started(self, run: TrainingRun, info: RunInfo) -> None:
        self.bar.clear()
        model = run.config.model
        shape = f"{model.image_size}x{model.image_size} {'grayscale' if model.channels == 1 else 'colour'}"
        print(f"Training a {model.kind} VAE (latent {model.latent_dim}, hidden {model.hidden}, {shape}) on {info.dataset}: "
              f"{info.train_images:,} training and {info.test_images:,} test images, {info.device}, "
              f"step: {info.step} in {info.precision}, epochs {info.start_epoch + 1}-{run.config.epochs}.", file=self.stream)
        self._last_line = time.monotonic()

    def on_step(self, run: TrainingRun, progress: StepProgress) -> None:
        if self.quiet:
            return
        left = time_left(run, progress)
        eta = f"  {format_duration(left)} left" if left is not None else ""
        text = (f"epoch {progress.epoch}/{run.config.epochs}  batch {progress.batch}/{progress.batches}  "
                f"loss {progress.loss:7.2f}  {progress.samples_per_second:,.0f} img/s{eta}")
        if self.bar.enabled:
            self.bar.update(progress.batch / progress.batches, text)
            return
        now = time.monotonic()
        if now - self._last_line >= self.line_interval:
            self._last_line = now
            print(text, file=self.stream, flush=True)

    def on_epoch_end(self, run: TrainingRun, result: EpochResult) -> None:
        self.bar.clear()
        print(epoch_line(result, run.config.model.latent_dim), file=self.results, flush=True)
        self._last_line = time.monotonic()

    def on_failed(self, run: TrainingRun, error: BaseException) -> None:
        self.bar.clear()
