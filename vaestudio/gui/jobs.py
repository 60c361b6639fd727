"""Background jobs for the panels: one worker thread, the newest job of each kind wins."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

from vaestudio.core.errors import VaeStudioError
from vaestudio.core.training.thread_tuning import single_torch_thread

Job = Callable[[threading.Event, Callable[[float], bool]], object]  # job(cancel, report) -> result


class JobRunner(QObject):
    """Runs jobs one at a time off the GUI thread; a newer job of a kind supersedes the older one.

    Signals emitted in the worker reach slots on the GUI thread as queued calls.
    """

    finished = Signal(str, object)
    failed = Signal(str, str)
    progress = Signal(str, float)
    _done = Signal(str, object, object, object)  # kind, cancel flag, result, error message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._active: dict[str, threading.Event] = {}  # kind -> cancel flag of its running job
        self._pending: dict[str, Job] = {}             # kind -> the newest job waiting for it
        self._done.connect(self._on_done)

    def submit(self, kind: str, job: Job) -> None:
        """Run `job(cancel, report)` soon; a running job of the same kind is cancelled and its result dropped."""
        if kind in self._active:
            self._active[kind].set()
            self._pending[kind] = job
        else:
            self._start(kind, job)

    def _start(self, kind: str, job: Job) -> None:
        cancel = self._active[kind] = threading.Event()

        def report(fraction: float) -> bool:
            """Announce progress; answers whether to go on (False once cancelled)."""
            self.progress.emit(kind, fraction)
            return not cancel.is_set()

        def run() -> None:
            result = error = None
            single_torch_thread()  # never an OpenMP team beside the training thread's
            try:
                result = job(cancel, report)
            except VaeStudioError as exception:
                error = str(exception)
            except Exception as exception:  # shown to the person, not a crash of the window
                error = f"{type(exception).__name__}: {exception}"
            with contextlib.suppress(RuntimeError):  # the panel was deleted while this ran
                self._done.emit(kind, cancel, result, error)

        self._pool.start(run)

    def _on_done(self, kind: str, cancel: threading.Event, result: object, error: object) -> None:
        if self._active.get(kind) is cancel:
            del self._active[kind]
        pending = self._pending.pop(kind, None)
        if pending is not None:
            self._start(kind, pending)
        elif not cancel.is_set() and error is not None:
            self.failed.emit(kind, str(error))
        elif not cancel.is_set() and result is not None:
            self.finished.emit(kind, result)

    def shutdown(self) -> None:
        for cancel in self._active.values():
            cancel.set()
        self._pending.clear()
        self._pool.clear()
        self._pool.waitForDone()
