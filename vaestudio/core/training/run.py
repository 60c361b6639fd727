"""One training run: the object that owns its state, history, autosave and rewind, and tells observers.

The CLI and the window drive the same `TrainingRun`: the CLI attaches a console observer and
calls `execute()` on the main thread; the window's worker calls `execute()` on a QThread and
adapts the events to Qt signals. Whoever shows a run reads `run.history`, the only copy: it is
appended to at each step and cut back when a stop or a non-finite loss rewinds the run to its
last epoch end, which is also what the autosaved file holds.

States: idle -> loading -> running <-> paused -> (stopping) -> finished, or failed from any of
them. Events (methods of `RunObserver`) are called on the thread that executes the run, except
`on_state_changed(STOPPING)`, which comes from the thread that asks for the stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vaestudio.core.data.datasets import DatasetSplits, load_dataset
from vaestudio.core.models.history import EpochResult, StepProgress, TrainingHistory
from vaestudio.core.models.model_files import SavedModel, save_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import device_label, resolve_device
from vaestudio.core.training.precision import check_precision
from vaestudio.core.training.trainer import Trainer, TrainingControl


class RunState(str, Enum):
    IDLE = "idle"
    LOADING = "loading"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"


ACTIVE_STATES = (RunState.LOADING, RunState.RUNNING, RunState.PAUSED, RunState.STOPPING)


@dataclass(frozen=True)
class RunInfo:
    """What a run is, known once its data is loaded and its trainer built."""

    dataset: str
    class_names: list[str]
    train_images: int
    test_images: int
    batches_per_epoch: int
    device: str
    step: str  # the step strategy that runs: "autograd" or "fused-mlp"
    start_epoch: int
    model_path: str
    config: TrainingConfig | None = None  # the run's settings with the network's kind and image shape resolved
    precision: str = "float32"  # the forward pass's arithmetic that runs: "float32" or "bfloat16" (precision.py)


class RunObserver:
    """Receives a run's events; override the ones you need."""

    def on_state_changed(self, run: TrainingRun, state: RunState) -> None: ...
    def on_loading(self, run: TrainingRun, message: str, fraction: float | None) -> None: ...
    def on_started(self, run: TrainingRun, info: RunInfo) -> None: ...
    def on_step(self, run: TrainingRun, progress: StepProgress) -> None: ...
    def on_epoch_end(self, run: TrainingRun, result: EpochResult) -> None: ...
    def on_saved(self, run: TrainingRun, path: Path) -> None: ...
    def on_failed(self, run: TrainingRun, error: BaseException) -> None: ...


class _StoppedWhileLoading(Exception):
    pass


class _ReportingControl(TrainingControl):
    """The trainer's pause/stop flags, telling the run when the loop really waits and goes on again."""

    def __init__(self, run: TrainingRun) -> None:
        super().__init__()
        self._run = run

    def wait_while_paused(self) -> None:
        if self.paused and not self.stop_requested:
            self._run._set_state(RunState.PAUSED)
        super().wait_while_paused()
        if not self.stop_requested:
            self._run._set_state(RunState.RUNNING)


class TrainingRun:
    """A run from a configuration (new) or a saved model (`resume`), autosaved to `out` at every epoch end."""

    def __init__(self, config: TrainingConfig, *, out: str | Path | None = None, resume: SavedModel | None = None,
                 data: DatasetSplits | None = None, data_dir: str | Path | None = None,
                 download: bool = True, trainer_type: Callable[..., Trainer] = Trainer) -> None:
        self.config = config.validate()
        self.out = Path(out) if out is not None else None
        self.history = resume.history if resume is not None else TrainingHistory()
        self.start_epoch = resume.epoch if resume is not None else 0
        self.state = RunState.IDLE
        self.outcome = ""  # "completed", "stopped" or "failed" once finished
        self.error: BaseException | None = None
        self.info: RunInfo | None = None
        self.last_step: StepProgress | None = None
        self.trainer: Trainer | None = None
        self.control: TrainingControl = _ReportingControl(self)
        self._resume = resume
        self._data = data
        self._data_dir = data_dir
        self._download = download
        self._trainer_type = trainer_type  # a Trainer, or a DistributedTrainer bound to its process group
        self._observers: list[RunObserver] = []

    # --- observers and control (any thread) ---

    def add_observer(self, observer: RunObserver) -> None:
        self._observers.append(observer)

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        """Ask the run to stop at the next step; it rewinds to its last epoch end (already saved)."""
        if self.state in ACTIVE_STATES or self.state is RunState.IDLE:
            self.control.stop()
            if self.state is not RunState.IDLE:
                self._set_state(RunState.STOPPING)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def epoch(self) -> int:
        """Epochs completed so far (the resumed file's count included)."""
        return self.trainer.epoch if self.trainer is not None else self.start_epoch

    @property
    def epochs_trained_here(self) -> int:
        return self.epoch - self.start_epoch

    # --- running (the executing thread) ---

    def execute(self) -> str:
        """Load the data, train to the end or to a stop, autosave each epoch; returns the outcome.

        A failure (our own errors included) is reported to observers with `on_failed` and then
        raised; Ctrl+C (KeyboardInterrupt) rewinds, finishes the run as stopped and is raised again.
        """
        try:
            self._build_trainer()
            self._set_state(RunState.RUNNING)
            for record in self.trainer.run():
                if isinstance(record, StepProgress):
                    self.last_step = record
                    self._notify("on_step", record)
                else:
                    self._notify("on_epoch_end", record)
                    self.save()
            self._finish("stopped" if self.control.stop_requested else "completed")
        except _StoppedWhileLoading:
            self._finish("stopped")
        except KeyboardInterrupt:
            self._rewind()
            self._finish("stopped")
            raise
        except Exception as error:
            self._rewind()
            self.error, self.outcome = error, "failed"
            self._set_state(RunState.FAILED)
            self._notify("on_failed", error)
            raise
        return self.outcome

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the run's model, optimiser, random stream and history to `path` (default: `out`).

        Call it from the executing thread (observers do, at epoch ends) or once the run has ended.
        """
        target = Path(path) if path is not None else self.out
        trainer = self.trainer
        if target is None or trainer is None:
            return None
        save_model(target, trainer.model, trainer.config, epoch=trainer.epoch, history=self.history,
                   class_names=trainer.class_names, optimizer=trainer.optimizer,
                   rng_state=trainer.generator.get_state())
        self._notify("on_saved", target)
        return target

    def snapshot(self) -> dict:
        """A CPU copy of the current weights (call from the executing thread, e.g. in `on_epoch_end`)."""
        return self.trainer.state_snapshot() if self.trainer is not None else {}

    def _build_trainer(self) -> None:
        # a missing GPU, or bfloat16 asked of a device without it, fails before any data is read
        check_precision(self.config.precision, resolve_device(self.config.device))
        self._set_state(RunState.LOADING)
        data = self._data
        resume = self._resume
        if resume is not None:  # the data is conformed to the saved network
            size, channels = resume.config.image_size, resume.config.channels
        else:
            size, channels = self.config.image_size, self.config.channels
        if data is None:
            data = load_dataset(self.config.dataset, data_dir=self._data_dir, download=self._download,
                                progress=self._on_data_progress, image_size=size, channels=channels)
        if self.control.stop_requested:
            raise _StoppedWhileLoading
        self.trainer = trainer = self._trainer_type(self.config, data, model=resume.model if resume else None,
                          optimizer_state=resume.optimizer_state if resume else None, history=self.history,
                          start_epoch=self.start_epoch, control=self.control,
                          rng_state=resume.rng_state if resume else None)
        self.info = RunInfo(data.train.name, list(trainer.class_names), len(data.train), len(data.test),
                            trainer.batches_per_epoch, device_label(trainer.device), trainer.step.name,
                            self.start_epoch, str(self.out or ""), trainer.config, trainer.config.precision)
        self.config = trainer.config  # the network's kind, image size and channels now known
        self._data = None  # the trainer holds the images it needs; the rest can go
        self._notify("on_started", self.info)

    def _on_data_progress(self, message: str, fraction: float | None) -> None:
        if self.control.stop_requested:
            raise _StoppedWhileLoading
        self._notify("on_loading", message, fraction)

    def _rewind(self) -> None:
        if self.trainer is not None:
            self.trainer.rewind_to_epoch_start()

    def _finish(self, outcome: str) -> None:
        self.outcome = outcome
        self._set_state(RunState.FINISHED)

    def _set_state(self, state: RunState) -> None:
        if state is self.state:
            return
        self.state = state
        self._notify("on_state_changed", state)

    def _notify(self, event: str, *args) -> None:
        for observer in list(self._observers):
            getattr(observer, event)(self, *args)
