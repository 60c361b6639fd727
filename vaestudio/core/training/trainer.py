"""The training loop: a generator of plain records that a `TrainingRun` (run.py) drives.

`Trainer.run()` yields `StepProgress` every step and `EpochResult` at each epoch end, and
checks a `TrainingControl` between steps for pause, resume and stop. It owns the model, the
step strategy (steps.py) with its optimiser, the data on the training device and the run's
random stream: one `torch.Generator` for the reparameterisation noise and binarised pixels,
whose state is saved with the model so that a resumed run continues exactly where it
stopped. Nothing here reads or reseeds torch's global generator after the network is built.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import replace
from typing import Iterator

import torch

from vaestudio.core.data.datasets import DatasetSplits
from vaestudio.core.errors import ConfigError, ModelFileError, TrainingError
from vaestudio.core.models.history import EpochResult, EvaluationResult, StepProgress, TrainingHistory
from vaestudio.core.models.networks import VAE, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import resolve_device
from vaestudio.core.training.evaluation import evaluate, to_pixels
from vaestudio.core.training.precision import resolve_precision
from vaestudio.core.training.steps import AutogradStep, FusedMLPStep, choose_step


class TrainingControl:
    """Thread-safe pause, resume and stop flags, checked by the loop between steps."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> None:
        self._running.wait()


def _describe(image_size: int, channels: int) -> str:
    return f"{image_size}x{image_size} {'grayscale' if channels == 1 else 'colour'}"


class TrainingDivergedError(TrainingError):
    """The loss became NaN or infinite; the model goes back to its last epoch end."""


def initial_model(config: TrainingConfig) -> tuple[VAE, torch.Tensor]:
    """A new network initialised from `config.seed`, and the CPU random state its initialisation left.

    torch's global generator is used (layers initialise from it) but restored afterwards, so
    building a model never changes another stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config.model)
        return model, torch.get_rng_state()


def run_generator(device: torch.device, seed: int, *, state: torch.Tensor | None = None,
                  after_init: torch.Tensor | None = None) -> torch.Generator:
    """The run's random stream on `device`: a saved state when it fits the device, else a fresh one.

    A new CPU run continues the stream that initialised its network (`after_init`), so it draws
    exactly what the first builds drew from torch's global generator.
    """
    generator = torch.Generator(device=device)
    for candidate in (state, after_init):
        if candidate is None:
            continue
        try:
            generator.set_state(candidate)
            return generator
        except (RuntimeError, TypeError, ValueError):
            continue  # a state saved on another kind of device: start a new stream
    return generator.manual_seed(seed)


class Trainer:
    """Owns the model, step strategy, optimiser, random stream and data on the training device."""

    def __init__(self, config: TrainingConfig, data: DatasetSplits, *, model: VAE | None = None,
                 optimizer_state: dict | None = None, history: TrainingHistory | None = None,
                 start_epoch: int = 0, control: TrainingControl | None = None,
                 rng_state: torch.Tensor | None = None) -> None:
        config = config.validate()
        size, channels = data.image_size, data.channels
        if model is None:
            config = config.for_data(size, channels)
        elif (model.config.image_size, model.config.channels) != (size, channels):
            raise ConfigError(f"The model takes {_describe(model.config.image_size, model.config.channels)} images "
                              f"but the dataset holds {_describe(size, channels)} ones; train on the dataset it "
                              "was trained on, or ask for its size and channels.")
        else:
            config = replace(config, model=model.config)
        self.config = config
        self.device = resolve_device(config.device)
        self.control = control or TrainingControl()
        after_init = None
        if model is None:
            model, after_init = initial_model(config)
        self.model = model.to(self.device)
        self.model.train()
        # what runs is recorded ("float32" or "bfloat16", not "auto"), so the saved file says how it was trained
        self.config = config = replace(config, precision=resolve_precision(config.precision, model, self.device))
        self.generator = run_generator(self.device, config.seed + start_epoch, state=rng_state, after_init=after_init)
        self.step = self._make_step()
        self.optimizer = self.step.optimizer
        if optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(optimizer_state)
            except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as error:
                raise ModelFileError(f"The optimiser state saved with this model does not fit its network ({error}). "
                                     "Train a new model instead of resuming this one.") from error
            for group in self.optimizer.param_groups:
                group["lr"] = config.lr
        self.history = history if history is not None else TrainingHistory()
        self.epoch = start_epoch
        self.dataset_name = data.train.name
        self.class_names = list(data.train.class_names)
        try:
            self.train_images = data.train.images.to(self.device)
            self.test_images = data.test.images.to(self.device)
        except torch.cuda.OutOfMemoryError as error:
            raise TrainingError(f"The dataset does not fit in {self.device} memory. Train on the CPU "
                                "(--device cpu) or free GPU memory.") from error
        self.test_labels = data.test.labels
        if len(self.train_images) == 0 or len(self.test_images) == 0:
            raise ConfigError("The dataset has no training or no test images.")
        self._epoch_start: tuple[dict[str, torch.Tensor], dict, torch.Tensor, int] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_images) / self.config.batch_size)

    def beta_at(self, step: int) -> float:
        """beta, ramped linearly from 0 over the warm-up epochs."""
        warmup_steps = self.config.kl_warmup_epochs * self.batches_per_epoch
        if warmup_steps <= 0:
            return self.config.beta
        return self.config.beta * min(1.0, step / warmup_steps)

    def run(self) -> Iterator[StepProgress | EpochResult]:
        """Train until `config.epochs` epochs are done or a stop is requested (then rewound to the epoch start)."""
        while self.epoch < self.config.epochs and not self.control.stop_requested:
            epoch_result = yield from self._run_epoch()
            if epoch_result is None:
                return
            yield epoch_result

    def _run_epoch(self) -> Iterator[StepProgress]:
        config, count = self.config, len(self.train_images)
        epoch = self.epoch + 1
        self._epoch_start = (self.state_snapshot(), copy.deepcopy(self.optimizer.state_dict()),
                             self.generator.get_state(), len(self.history.step_loss))
        shuffle = torch.Generator(device="cpu").manual_seed(config.seed * 1_000_003 + epoch)  # same on resume
        order = torch.randperm(count, generator=shuffle).to(self.device)  # batches gather from it: no second copy
        loss_sum = reconstruction_sum = kl_sum = 0.0
        started = time.perf_counter()
        paused_seconds = 0.0
        for batch in range(self.batches_per_epoch):
            if self.control.paused:
                pause_started = time.perf_counter()
                self.control.wait_while_paused()
                paused_seconds += time.perf_counter() - pause_started
            if self.control.stop_requested:
                self.rewind_to_epoch_start()
                return None
            step = len(self.history.step_loss)
            indices = order[batch * config.batch_size:(batch + 1) * config.batch_size]
            x = to_pixels(self.train_images.index_select(0, indices), config.pixels, self.generator)
            try:
                progress = self._step(x, epoch, step, batch, started, paused_seconds)
            except TrainingDivergedError:
                self.rewind_to_epoch_start()
                raise
            loss_sum += progress.loss * len(x)
            reconstruction_sum += progress.reconstruction * len(x)
            kl_sum += progress.kl * len(x)
            self.history.record_step(progress)
            yield progress
        seconds = time.perf_counter() - started - paused_seconds
        test = self._evaluate()
        self.model.train()
        self.epoch = epoch
        self._epoch_start = None  # the epoch is complete: nothing left to rewind
        result = EpochResult(epoch, config.epochs, loss_sum / count, reconstruction_sum / count, kl_sum / count,
                             test, seconds, count / max(seconds, 1e-9))
        self.history.epochs.append(result)
        return result

    def _make_step(self) -> AutogradStep | FusedMLPStep:
        """The step strategy (steps.py); a trainer of several processes (distributed.py) brings its own."""
        return choose_step(self.model, self.config.lr, fused=self.config.fused_step, precision=self.config.precision)

    def _evaluate(self) -> EvaluationResult:
        """The test-set figures at an epoch end."""
        return evaluate(self.model, self.test_images, pixels=self.config.pixels, seed=self.config.seed)

    def _step(self, x: torch.Tensor, epoch: int, step: int, batch: int, started: float,
              paused_seconds: float) -> StepProgress:
        beta = self.beta_at(step)
        try:
            values = self.step.compute(x, beta, self.generator)
            self._check_finite(values, epoch, step)
            self.step.update()
        except torch.cuda.OutOfMemoryError as error:
            raise TrainingError(f"The GPU ran out of memory at batch size {self.config.batch_size}. "
                                "Use a smaller batch size or train on the CPU.") from error
        size = len(x)
        elapsed = time.perf_counter() - started - paused_seconds
        return StepProgress(epoch, step + 1, batch + 1, self.batches_per_epoch, values[0] / size,
                            values[1] / size, values[2] / size, beta,
                            (batch * self.config.batch_size + size) / max(elapsed, 1e-9))

    @staticmethod
    def _check_finite(values: list[float], epoch: int, step: int) -> None:
        if not all(math.isfinite(value) for value in values):
            raise TrainingDivergedError(
                f"The loss became {values[0]} at epoch {epoch}, step {step + 1}; training stopped and the "
                f"model goes back to the end of epoch {epoch - 1}. Lower the learning rate or beta and train again.")

    def rewind_to_epoch_start(self) -> None:
        """Undo a partly trained epoch (after a stop, Ctrl+C or a non-finite loss): weights, optimiser, random
        stream and history go back to the last epoch end, so a saved file's weights, epoch and step history
        agree and resuming is exact."""
        if self._epoch_start is None:
            return
        weights, optimizer_state, rng_state, steps = self._epoch_start
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(optimizer_state)
        self.generator.set_state(rng_state)
        for values in (self.history.step_loss, self.history.step_reconstruction, self.history.step_kl):
            del values[steps:]

    def state_snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights that another thread may use freely."""
        return {name: tensor.detach().to("cpu", copy=True) for name, tensor in self.model.state_dict().items()}
