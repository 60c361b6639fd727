"""The training thread: a worker that drives the core loop on a QThread and turns its records into signals.

The worker builds the dataset and the `Trainer` inside its thread, so nothing slow ever runs
on the GUI thread. Only plain data leaves the thread: numpy arrays of step records (sent in
batches, at most every `EMIT_INTERVAL` seconds), `EpochResult` records, CPU `state_dict`
snapshots and strings. The GUI controls the run through the core's thread-safe
`TrainingControl`, never through the worker's (busy) event loop.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal

from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.errors import VaeStudioError
from vaestudio.core.models.history import EpochResult, StepProgress
from vaestudio.core.models.model_files import save_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import device_label
from vaestudio.core.training.thread_tuning import ThreadTuner, thread_candidates
from vaestudio.core.training.trainer import (
    Trainer,
    TrainingControl,
    TrainingDivergedError,
)

log = logging.getLogger(__name__)

STEP_COLUMNS = ("epoch", "batch", "batches", "loss", "reconstruction", "kl", "samples_per_second")
EMIT_INTERVAL = 0.1
# Linux: the training thread runs at a lower priority (nice 10), so the GUI thread wins the CPU
# whenever it wakes. On an idle machine training loses nothing; ui_latency.py measured p99
# lateness 13-15 ms with it against 24-36 ms without, on 2 cores.
TRAINING_NICENESS = 10
MODEL_FILE_NAME = "model.safetensors"


@dataclass(frozen=True)
class TrainingRequest:
    """What the worker needs to start a run; every field is plain data."""

    config: TrainingConfig
    data_dir: str | None = None
    run_folder: Path | None = None
    torch_threads: int | None = None  # None: chosen by measurement while training (ThreadTuner)
    niceness: int = 0
    download: bool = True

    @property
    def model_path(self) -> Path | None:
        return self.run_folder / MODEL_FILE_NAME if self.run_folder is not None else None


@dataclass(frozen=True)
class RunInfo:
    """Sent once the dataset is loaded and the trainer built."""

    dataset: str
    class_names: list[str]
    train_images: int
    test_images: int
    batches_per_epoch: int
    device: str
    model_path: str


class _Cancelled(Exception):
    """Raised from the dataset progress callback when a stop arrives while the data loads."""


class _ReportingControl(TrainingControl):
    """The core's control, telling the worker when the loop really stops to wait for a resume."""

    def __init__(self, on_wait) -> None:
        super().__init__()
        self._on_wait = on_wait

    def wait_while_paused(self) -> None:
        if self.paused:
            self._on_wait(True)
        super().wait_while_paused()
        self._on_wait(False)


class TrainingWorker(QObject):
    """Runs one training request when `run` is called on its thread."""

    status = Signal(str)
    started = Signal(object)           # RunInfo
    steps = Signal(object)             # np.ndarray (n, len(STEP_COLUMNS)), float64
    epochFinished = Signal(object)     # EpochResult
    snapshot = Signal(object, int)     # CPU state_dict, epoch it belongs to
    saved = Signal(str)                # path of the autosaved model file
    pausedChanged = Signal(bool)       # True once the loop actually waits, False when it goes on
    errored = Signal(str)              # a message for a person, never a traceback
    finished = Signal(str)             # "completed", "stopped" or "failed"

    def __init__(self, request: TrainingRequest) -> None:
        super().__init__()
        self.request = request
        self.control = _ReportingControl(self._on_pause_wait)
        self._pending: list[tuple[float, ...]] = []
        self._last_emit = 0.0

    def run(self) -> None:
        outcome = "failed"
        previous_threads = torch.get_num_threads()
        try:
            if self.request.torch_threads:
                torch.set_num_threads(self.request.torch_threads)
            if self.request.niceness > 0 and sys.platform.startswith("linux"):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.request.niceness)
            outcome = self._train()
        except _Cancelled:
            outcome = "stopped"
        except VaeStudioError as error:
            self.errored.emit(str(error))
        except torch.cuda.OutOfMemoryError:
            self.errored.emit("The GPU ran out of memory. Use a smaller batch size or model, or train on the CPU.")
        except MemoryError:
            self.errored.emit("The computer ran out of memory. Use a smaller dataset, batch size or model.")
        except Exception as error:  # the thread must always end with a message, never a traceback dialog
            log.exception("training failed unexpectedly")
            self.errored.emit(f"Training stopped because of an unexpected error ({type(error).__name__}: "
                              f"{str(error)[:200]}). Check the settings and try again; the details are "
                              "in the terminal output.")
        finally:
            torch.set_num_threads(previous_threads)
            self.finished.emit(outcome)

    def _train(self) -> str:
        request = self.request
        self.status.emit(f"Loading {request.config.dataset}…")
        data = load_dataset(request.config.dataset, data_dir=request.data_dir, download=request.download,
                            progress=self._on_data_progress)
        if self.control.stop_requested:
            return "stopped"
        trainer = Trainer(request.config, data, control=self.control)
        self.started.emit(RunInfo(data.train.name, list(trainer.class_names), len(data.train), len(data.test),
                                  trainer.batches_per_epoch, device_label(trainer.device),
                                  str(request.model_path or "")))
        self.status.emit("Training")
        del data
        self._last_emit = time.perf_counter()
        tuner = ThreadTuner(thread_candidates()) if not request.torch_threads and trainer.device.type == "cpu" else None
        try:
            for record in trainer.run():
                if isinstance(record, StepProgress):
                    self._add_step(record)
                    if tuner is not None:
                        tuner.step_done(trainer.config.batch_size)
                elif isinstance(record, EpochResult):
                    self._flush_steps()
                    self.epochFinished.emit(record)
                    self._publish(trainer)
        except TrainingDivergedError:
            self._flush_steps()
            self._publish(trainer)
            raise
        self._flush_steps()
        if tuner is not None:
            log.info("torch threads measured (images/s): %s; training ended on %d",
                     {count: round(rate) for count, rate in tuner.rates.items()}, tuner.current)
        if self.control.stop_requested:
            self._publish(trainer)
            return "stopped"
        return "completed"

    def _add_step(self, record: StepProgress) -> None:
        self._pending.append((record.epoch, record.batch, record.batches, record.loss, record.reconstruction,
                              record.kl, record.samples_per_second))
        if time.perf_counter() - self._last_emit >= EMIT_INTERVAL:
            self._flush_steps()

    def _flush_steps(self) -> None:
        self._last_emit = time.perf_counter()
        if self._pending:
            self.steps.emit(np.array(self._pending, dtype=np.float64))
            self._pending = []

    def _publish(self, trainer: Trainer) -> None:
        """Send a CPU snapshot of the weights and autosave the model (both on this thread)."""
        self.snapshot.emit(trainer.state_snapshot(), trainer.epoch)
        path = self.request.model_path
        if path is not None:
            save_model(path, trainer.model, trainer.config, epoch=trainer.epoch, history=trainer.history,
                       class_names=trainer.class_names, optimizer=trainer.optimizer)
            self.saved.emit(str(path))

    def _on_pause_wait(self, waiting: bool) -> None:
        if waiting:
            self._flush_steps()
        self.pausedChanged.emit(waiting)

    def _on_data_progress(self, message: str, fraction: float | None) -> None:
        if self.control.stop_requested:
            raise _Cancelled
        self.status.emit(message)


class TrainingRun(QObject):
    """The GUI's handle on one run: the worker, its QThread, and pause/resume/stop.

    `ended` is emitted (on the GUI thread) once the thread has really finished, with the
    outcome: "completed", "stopped" or "failed". Keep a reference until then.
    """

    ended = Signal(str)

    def __init__(self, request: TrainingRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.outcome = ""
        self.info: RunInfo | None = None
        self._started = self._ended = False
        self.thread = QThread()
        self.thread.setObjectName("vaestudio-training")
        self.worker = TrainingWorker(request)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quit must reach the thread even while the GUI thread is blocked in wait().
        self.worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.started.connect(self._on_started)
        self.thread.finished.connect(self._on_thread_finished)

    @property
    def control(self) -> TrainingControl:
        return self.worker.control

    @property
    def alive(self) -> bool:
        """True from start() until the thread has finished."""
        return self._started and not self._ended and not self.thread.isFinished()

    def start(self) -> None:
        self._started = True
        self.thread.start()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Stop and block until the thread ends (for application shutdown only)."""
        self.control.stop()
        return self.thread.wait(timeout_ms)

    def _on_started(self, info: RunInfo) -> None:
        self.info = info

    def _on_worker_finished(self, outcome: str) -> None:
        self.outcome = outcome

    def _on_thread_finished(self) -> None:
        self._ended = True
        self.ended.emit(self.outcome or "failed")
