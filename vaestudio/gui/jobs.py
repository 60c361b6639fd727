"""The one runner for the window's background jobs: priorities, superseded requests, every failure shown.

Every computation the panels do off the GUI thread (loading the test split, encoding it for
the map, t-SNE, the decoded background, scoring the test set, the traversal grid, hover
previews) is a job on this runner, which runs them one at a time on one worker thread:

- **Priorities.** The waiting job with the most urgent `Priority` runs next. A running job
  yields at its checkpoints: each call of `report()` first runs the waiting jobs more urgent
  than itself, so a hover preview never waits for a t-SNE to end.
- **Superseded requests.** At most one job of each kind waits. A newer request of the same
  kind replaces the waiting one (repeated requests coalesce: twenty slider moves during one
  decode are one more decode, of the latest value) and, unless `cancel_running=False`, sets
  the cancel flag of the running one, whose result is then dropped.
- **Failures.** A job that raises is logged with its traceback and its message is shown:
  our own `VaeStudioError`'s message as it is, anything else as a short message pointing to
  the log. Shown in a dialog unless the submitter shows it itself (`show_errors=False`).

A job is a function `job(cancel, report) -> result` run on the worker thread from plain data
only (numpy arrays, CPU state_dict copies). `cancel` is a `threading.Event` set when the job
is superseded; long jobs call `report(fraction)` between steps and stop when it answers
False. Results reach `on_result` on the GUI thread, only if the job was not superseded.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from vaestudio.core.errors import VaeStudioError
from vaestudio.core.training.thread_tuning import single_torch_thread
from vaestudio.gui.widgets import dialogs

log = logging.getLogger(__name__)

Report = Callable[..., bool]  # report(fraction=None) -> go on?
JobFunction = Callable[[threading.Event, Report], object]
SHUTDOWN_WAIT_S = 10.0


class Priority(IntEnum):
    """Which waiting job runs first (lower runs sooner)."""

    INTERACTIVE = 0  # a person waits for it this instant: a hover preview, the traversal after a drag
    VISIBLE = 1      # what a view on screen needs: the test split, the map's points, the background grid
    BACKGROUND = 2   # may take seconds: t-SNE, scoring the whole test set


def failure_message(error: BaseException, description: str) -> str:
    """What a person reads about a failed job: our own errors as they are, others short, with where the details are."""
    if isinstance(error, VaeStudioError):
        return str(error)
    if isinstance(error, MemoryError):
        return "The computer ran out of memory. Close other programs, or use a smaller dataset or model."
    what = description or "A background task"
    return (f"{what} stopped because of an unexpected error ({type(error).__name__}: {str(error)[:200]}). "
            "The details are in the log (the terminal output).")


@dataclass(eq=False)
class _Job:
    kind: str
    function: JobFunction
    priority: Priority
    description: str
    on_result: Callable[[object], None] | None
    on_error: Callable[[str], None] | None
    on_progress: Callable[[float], None] | None
    show_errors: bool
    order: int
    cancel: threading.Event = field(default_factory=threading.Event)
    delivered: bool = False


class JobRunner(QObject):
    """Runs background jobs one at a time on one worker thread (see the module's docstring)."""

    finished = Signal(str, object)  # kind, result: after its on_result, for observers and tests
    failed = Signal(str, str)       # kind, the message shown
    progress = Signal(str, float)   # kind, fraction done
    _done = Signal(object, object, object)  # _Job, result, error message (None: succeeded)
    _progressed = Signal(object, float)     # _Job, fraction

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Condition()
        self._waiting: dict[str, _Job] = {}  # kind -> the one job of that kind waiting to run
        self._running: dict[str, _Job] = {}  # kind -> its running job (several while one yields to another)
        self._latest: dict[str, _Job] = {}   # kind -> the newest job submitted (GUI thread only)
        self._orders = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dialogs: dict[str, QMessageBox] = {}
        self._done.connect(self._deliver)
        self._progressed.connect(self._deliver_progress)

    # -- the GUI thread's side -------------------------------------------------------------

    def submit(self, kind: str, job: JobFunction, *, priority: Priority = Priority.BACKGROUND,
               description: str = "", on_result: Callable[[object], None] | None = None,
               on_error: Callable[[str], None] | None = None, on_progress: Callable[[float], None] | None = None,
               show_errors: bool = True, cancel_running: bool = True) -> None:
        """Run `job(cancel, report)` soon, replacing the waiting job of the same `kind`.

        `description` names the work in logs and error dialogs ("Encoding the test images").
        `on_error(message)` is called as well as the dialog, or instead of it with
        `show_errors=False`. With `cancel_running=False` a running job of this kind finishes
        and shows its result before this one starts (for requests that follow a drag);
        otherwise it is cancelled, and so is a result computed but not yet shown.
        Called on the GUI thread.
        """
        with self._lock:
            if self._closed:
                log.debug("job %r submitted after shutdown: ignored", kind)
                return
            replaced = self._waiting.pop(kind, None)
            if replaced is not None:
                replaced.cancel.set()
            previous = [self._running.get(kind), self._latest.get(kind)]
            for superseded in previous if cancel_running else ():
                if superseded is not None:
                    superseded.cancel.set()
            new = self._latest[kind] = _Job(kind, job, Priority(priority), description, on_result, on_error,
                                            on_progress, show_errors, next(self._orders))
            self._waiting[kind] = new
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="vaestudio-jobs", daemon=True)
                self._thread.start()
            self._lock.notify()

    def cancel(self, kind: str) -> None:
        """Drop the waiting job of `kind` and ask its running one to stop; neither result is shown."""
        with self._lock:
            for jobs in (self._waiting, self._running, self._latest):
                job = jobs.get(kind)
                if job is not None:
                    job.cancel.set()
            self._waiting.pop(kind, None)

    def is_busy(self, kind: str) -> bool:
        """The newest job of `kind` waits, runs or has a result not yet shown (and was not cancelled)."""
        latest = self._latest.get(kind)
        return latest is not None and not latest.cancel.is_set() and not latest.delivered

    @property
    def worker_thread(self) -> threading.Thread | None:
        """The thread every job runs on (None until the first job)."""
        return self._thread

    def shutdown(self, timeout_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Cancel everything and wait for the running job to notice; True when the worker ended in time."""
        with self._lock:
            self._closed = True
            for job in [*self._waiting.values(), *self._running.values()]:
                job.cancel.set()
            self._waiting.clear()
            self._lock.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("a background job did not stop within %.0f s of closing; it is left to end on its own",
                        timeout_s)
            return False
        return True

    def _deliver(self, job: _Job, result: object, error: str | None) -> None:
        job.delivered = True
        if job.cancel.is_set() or self._closed:
            return
        if error is None:
            self._call(job, job.on_result, result)
            self.finished.emit(job.kind, result)
            return
        self._call(job, job.on_error, error)
        if job.show_errors:
            self._show(job, error)
        self.failed.emit(job.kind, error)

    def _deliver_progress(self, job: _Job, fraction: float) -> None:
        if job.cancel.is_set() or self._closed:
            return
        self._call(job, job.on_progress, fraction)
        self.progress.emit(job.kind, fraction)

    def _call(self, job: _Job, callback: Callable | None, value: object) -> None:
        """Call a submitter's callback unless its widget is gone; a failure in it is shown like a job's."""
        owner = getattr(callback, "__self__", None)
        if callback is None or (isinstance(owner, QObject) and not shiboken6.isValid(owner)):
            return
        try:
            callback(value)
        except Exception as error:  # shown to the person, never a crash of the window
            log.exception("showing the result of %s failed", job.description or job.kind)
            self._show(job, failure_message(error, f"Showing the result of {job.description or job.kind}"))

    def _show(self, job: _Job, message: str) -> None:
        """An error dialog; one at a time for each kind, so a job failing at every epoch does not stack them."""
        shown = self._dialogs.get(job.kind)
        if shown is not None and shiboken6.isValid(shown) and shown.isVisible():
            return
        parent = self.parent() if isinstance(self.parent(), QWidget) else None
        title = f"{job.description} failed." if job.description else "A background task failed."
        box = dialogs.show_error(parent, title, message)
        self._dialogs[job.kind] = box
        box.finished.connect(lambda *_: self._dialogs.pop(job.kind, None))

    # -- the worker thread's side ----------------------------------------------------------

    def _work(self) -> None:
        single_torch_thread()  # never an OpenMP team beside the training thread's
        while True:
            with self._lock:
                job = self._take_next(None)
                while job is None and not self._closed:
                    self._lock.wait()
                    job = self._take_next(None)
                if job is None:
                    return
            self._execute(job)

    def _take_next(self, more_urgent_than: Priority | None) -> _Job | None:
        """Move the most urgent waiting job (oldest first) to running; with the lock held."""
        candidates = [job for job in self._waiting.values() if job.kind not in self._running
                      and (more_urgent_than is None or job.priority < more_urgent_than)]
        if not candidates:
            return None
        job = min(candidates, key=lambda candidate: (candidate.priority, candidate.order))
        del self._waiting[job.kind]
        self._running[job.kind] = job
        return job

    def _execute(self, job: _Job) -> None:
        result = error = None

        def report(fraction: float | None = None) -> bool:
            """A checkpoint: announce progress, let more urgent jobs run, answer whether to go on."""
            if fraction is not None and not job.cancel.is_set():
                self._emit(self._progressed, job, float(fraction))
            if not job.cancel.is_set():
                self._run_more_urgent_than(job.priority)
            return not job.cancel.is_set()

        try:
            if not job.cancel.is_set():
                result = job.function(job.cancel, report)
        except Exception as exception:  # reported to the GUI, which shows it
            if job.cancel.is_set():
                log.debug("%s raised after it was cancelled: %r", job.description or job.kind, exception)
            else:
                log.exception("%s failed", job.description or f"the background job {job.kind!r}")
                error = failure_message(exception, job.description)
        finally:
            with self._lock:
                if self._running.get(job.kind) is job:
                    del self._running[job.kind]
                self._lock.notify_all()
        if not job.cancel.is_set():
            self._emit(self._done, job, result, error)

    def _run_more_urgent_than(self, priority: Priority) -> None:
        while True:
            with self._lock:
                job = None if self._closed else self._take_next(priority)
            if job is None:
                return
            self._execute(job)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the runner was deleted (its window closed) while the job ran
            pass
