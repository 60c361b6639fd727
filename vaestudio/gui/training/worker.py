"""The training thread: the core's `TrainingRun` executed on a QThread, its events turned into signals.

`TrainingWorker` is a thin adapter: a `RunObserver` whose methods (called on the training
thread) emit Qt signals, which reach the window on the GUI thread. Only plain data crosses:
`RunInfo` and `EpochResult` records, CPU `state_dict` snapshots, strings. Steps are not sent
one by one: `stepsAvailable` fires at most every `EMIT_INTERVAL` seconds, and the window reads
the new steps from the run's own history (`run.history`), the only copy. The GUI controls the
run through its thread-safe pause/resume/stop, never through the worker's (busy) event loop.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal

from vaestudio.core.errors import VaeStudioError
from vaestudio.core.models.history import EpochResult, StepProgress, TrainingHistory
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.run import RunInfo, RunObserver, RunState, TrainingRun
from vaestudio.core.training.thread_tuning import ThreadTuner, thread_candidates

log = logging.getLogger(__name__)

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
    resume: SavedModel | None = None

    @property
    def model_path(self) -> Path | None:
        return self.run_folder / MODEL_FILE_NAME if self.run_folder is not None else None


def failure_message(error: BaseException) -> str:
    """What the window says when a run fails: our own message, or a short one (the traceback goes to the log)."""
    if isinstance(error, VaeStudioError):
        return str(error)
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "The GPU ran out of memory. Use a smaller batch size or model, or train on the CPU."
    if isinstance(error, MemoryError):
        return "The computer ran out of memory. Use a smaller dataset, batch size or model."
    return (f"Training stopped because of an unexpected error ({type(error).__name__}: {str(error)[:200]}). "
            "Check the settings and try again; the details are in the log.")


class TrainingWorker(QObject, RunObserver):
    """Executes one `TrainingRun` when `work` is called on its thread."""

    stateChanged = Signal(str)         # a RunState value
    loading = Signal(str)              # what the data loading is doing
    started = Signal(object)           # RunInfo
    stepsAvailable = Signal()          # new steps are in run.history (and run.last_step)
    epochFinished = Signal(object)     # EpochResult
    snapshot = Signal(object, int)     # CPU state_dict, epoch it belongs to
    saved = Signal(str)                # path of the autosaved model file
    errored = Signal(str)              # a message for a person, never a traceback
    finished = Signal(str)             # "completed", "stopped" or "failed"

    def __init__(self, request: TrainingRequest) -> None:
        super().__init__()
        self.request = request
        self.run = TrainingRun(request.config, out=request.model_path, resume=request.resume,
                               data_dir=request.data_dir, download=request.download)
        self.run.add_observer(self)
        self._tuner: ThreadTuner | None = None
        self._last_emit = 0.0
        self._unsent_steps = False

    def work(self) -> None:
        previous_threads = torch.get_num_threads()
        try:
            if self.request.torch_threads:
                torch.set_num_threads(self.request.torch_threads)
            if self.request.niceness > 0 and sys.platform.startswith("linux"):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.request.niceness)
            self.run.execute()
        except Exception:  # reported by on_failed (with its traceback in the log); the thread ends normally
            pass
        finally:
            self._flush_steps()
            if self._tuner is not None:
                log.info("torch threads measured (images/s): %s; training ended on %d",
                         {count: round(rate) for count, rate in self._tuner.rates.items()}, self._tuner.current)
            torch.set_num_threads(previous_threads)
            self.finished.emit(self.run.outcome or "failed")

    # RunObserver: called on the training thread
    def on_state_changed(self, run: TrainingRun, state: RunState) -> None:
        if state is RunState.PAUSED:
            self._flush_steps()
        self.stateChanged.emit(state.value)

    def on_loading(self, run: TrainingRun, message: str, fraction: float | None) -> None:
        self.loading.emit(message)

    def on_started(self, run: TrainingRun, info: RunInfo) -> None:
        if not self.request.torch_threads and run.trainer.device.type == "cpu":
            self._tuner = ThreadTuner(thread_candidates())
        self._last_emit = time.perf_counter()
        self.started.emit(info)
        self.snapshot.emit(run.snapshot(), run.epoch)  # every view shows the new network from its first step

    def on_step(self, run: TrainingRun, progress: StepProgress) -> None:
        if self._tuner is not None:
            self._tuner.step_done(run.config.batch_size)
        self._unsent_steps = True
        if time.perf_counter() - self._last_emit >= EMIT_INTERVAL:
            self._flush_steps()

    def on_epoch_end(self, run: TrainingRun, result: EpochResult) -> None:
        self._flush_steps()
        self.epochFinished.emit(result)
        self.snapshot.emit(run.snapshot(), run.epoch)

    def on_saved(self, run: TrainingRun, path: Path) -> None:
        self.saved.emit(str(path))

    def on_failed(self, run: TrainingRun, error: BaseException) -> None:
        if not isinstance(error, VaeStudioError):
            log.error("training failed unexpectedly", exc_info=error)
        self._flush_steps()
        if run.trainer is not None:
            self.snapshot.emit(run.snapshot(), run.epoch)  # rewound to the last epoch end
        self.errored.emit(failure_message(error))

    def _flush_steps(self) -> None:
        self._last_emit = time.perf_counter()
        if self._unsent_steps:
            self._unsent_steps = False
            self.stepsAvailable.emit()


class RunThread(QObject):
    """The GUI's handle on one run: the core run, its worker and QThread, and pause/resume/stop.

    `ended` is emitted (on the GUI thread) once the thread has really finished, with the
    outcome: "completed", "stopped" or "failed". Keep a reference until then.
    """

    ended = Signal(str)

    def __init__(self, request: TrainingRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self._started = self._ended = False
        self.thread = QThread()
        self.thread.setObjectName("vaestudio-training")
        self.worker = TrainingWorker(request)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.work)
        # Direct: quit must reach the thread even while the GUI thread is blocked in wait().
        self.worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)

    @property
    def run(self) -> TrainingRun:
        return self.worker.run

    @property
    def history(self) -> TrainingHistory:
        return self.run.history

    @property
    def info(self) -> RunInfo | None:
        return self.run.info

    @property
    def outcome(self) -> str:
        return self.run.outcome

    @property
    def control(self):
        return self.run.control

    @property
    def alive(self) -> bool:
        """True from start() until the thread has finished."""
        return self._started and not self._ended and not self.thread.isFinished()

    def start(self) -> None:
        self._started = True
        self.thread.start()

    def pause(self) -> None:
        self.run.pause()

    def resume(self) -> None:
        self.run.resume()

    def stop(self) -> None:
        self.run.stop()

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Stop and block until the thread ends or `timeout_ms` passes; False if it is still running."""
        self.run.stop()
        return self.thread.wait(timeout_ms)

    def _on_thread_finished(self) -> None:
        self._ended = True
        self.ended.emit(self.run.outcome or "failed")
