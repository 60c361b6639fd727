"""File > Follow run…: the window shows a run that trains elsewhere, epoch by epoch, from its model file.

A run saves its model file after every epoch (atomically: a new file renamed over the old
one), in a run folder here or in a folder that a server run shares or syncs. `RunFollower`
watches that file (`QFileSystemWatcher`, which sees a rename as the old file going, and a
timer as the fallback for shared and synced folders where change notices do not arrive). It
reads the file only when its size, time and identity have stayed the same for `settle_ms`, in a
background job, with one read and no lock, and never writes it; a read that does not parse (a
copy still arriving) is tried again at the next change or tick. Each new epoch reaches
`RunFollowing`, which shows it as the window shows its own runs: the loss plot, the KL bars,
the Run form's progress line and the session's weights, from which the latent map re-encodes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog

from vaestudio.core.data.paths import runs_dir
from vaestudio.core.models.model_files import SavedModel, load_model
from vaestudio.gui.jobs import Priority

if TYPE_CHECKING:
    from vaestudio.gui.jobs import JobRunner
    from vaestudio.gui.main_window import MainWindow

RUN_MODEL_FILE = "model.safetensors"  # the file a run folder holds (gui/training/worker.py names it too)
READ_JOB = "follow: read the model file"
POLL_MS, SETTLE_MS = 1000, 200


@dataclass(frozen=True)
class FileSignature:
    """What tells one version of a file from another without reading it."""

    size: int
    modified_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileSignature | None:
        try:
            status = path.stat()
        except OSError:
            return None
        return cls(status.st_size, status.st_mtime_ns, status.st_ino)


def followed_file(path: str | Path) -> Path:
    """The model file to follow for `path`: the file itself, or the model file of a run folder."""
    path = Path(path)
    if not path.is_dir():
        return path
    models = sorted(path.glob("*.safetensors"))
    return models[0] if len(models) == 1 else path / RUN_MODEL_FILE


class RunFollower(QObject):
    """Watches one model file and reads each new version of it (see the module's docstring).

    `versionRead(saved)` comes on the GUI thread for every version read; `waiting(message)` says
    why nothing is shown yet (no file yet, or a version that does not parse).
    """

    versionRead = Signal(object)  # SavedModel
    waiting = Signal(str)

    def __init__(self, path: str | Path, jobs: JobRunner, parent: QObject | None = None, *,
                 poll_ms: int = POLL_MS, settle_ms: int = SETTLE_MS) -> None:
        super().__init__(parent)
        self.path = followed_file(path)
        self.jobs = jobs
        self.reads = 0
        self._read: FileSignature | None = None  # the version last read
        self._seen: FileSignature | None = None  # the version seen at the last look, not read yet
        self._unread_since: float | None = None  # when a version not read yet was first seen
        self._max_wait_s = max(2 * poll_ms, 5 * settle_ms) / 1000
        self._active = False
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_changed)
        self._watcher.directoryChanged.connect(self._on_changed)
        self._poll = QTimer(self, interval=poll_ms)
        self._poll.timeout.connect(self.check)
        self._settle = QTimer(self, interval=settle_ms, singleShot=True)
        self._settle.timeout.connect(self.check)

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> None:
        self._active = True
        self._poll.start()
        self._watch()
        self.check()

    def stop(self) -> None:
        self._active = False
        self._poll.stop()
        self._settle.stop()
        self.jobs.cancel(READ_JOB)
        watched = self._watcher.files() + self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)

    def check(self) -> None:
        """Look at the file; read it once a new version has stayed the same for `settle_ms`."""
        if not self._active:
            return
        signature = FileSignature.of(self.path)
        if signature is None:
            self._seen = None
            self.waiting.emit(f"Waiting for {self.path} to be written…")
            return
        if signature == self._read:
            self._unread_since = None
            return
        now = time.monotonic()
        if self._unread_since is None:
            self._unread_since = now
        # new, or still changing: look again once it has settled, unless it never settles (a writer that saves
        # more often than settle_ms: each of its versions is whole, since saves are atomic, and a read parses it)
        if signature != self._seen and now - self._unread_since < self._max_wait_s:
            self._seen = signature
            self._settle.start()
            return
        path = self.path

        def read(cancel, report):
            saved = load_model(path)  # one read of the whole file, then parsed from memory
            return saved, signature if FileSignature.of(path) == signature else None

        self.jobs.submit(READ_JOB, read, priority=Priority.VISIBLE, description=f"Reading {path.name}",
                         on_result=self._on_read, on_error=self._on_read_failed, show_errors=False)

    def _on_read(self, result: tuple[SavedModel, FileSignature | None]) -> None:
        if not self._active:
            return
        saved, signature = result
        self._read = signature  # None when the file changed while it was read: look again
        self._unread_since = None
        self.reads += 1
        self.versionRead.emit(saved)
        if signature is None:
            self._settle.start()

    def _on_read_failed(self, message: str) -> None:
        if self._active:
            self._seen = None  # a copy still arriving, or a damaged file: try again at the next change or tick
            self.waiting.emit(f"{self.path.name} cannot be read yet ({message}); trying again.")

    def _on_changed(self, _path: str) -> None:
        self._watch()  # a file renamed over the watched one is a new file: watch it again
        self.check()

    def _watch(self) -> None:
        wanted = [str(self.path.parent)] + ([str(self.path)] if self.path.exists() else [])
        missing = [path for path in wanted if path not in self._watcher.files() + self._watcher.directories()]
        if missing and self.path.parent.exists():
            self._watcher.addPaths(missing)


class RunFollowing(QObject):
    """The window's side of following a run: File > Follow run…, and showing each epoch the file records."""

    followed = Signal(object)  # SavedModel: the window shows this version (after the panels were told)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.follower: RunFollower | None = None
        self.shown_epoch: int | None = None
        window.session.modelChanged.connect(self._on_model_changed)
        window.runStarted.connect(lambda _run: self.stop())

    @property
    def path(self) -> Path | None:
        return self.follower.path if self.follower is not None else None

    def choose_file(self) -> None:
        """File > Follow run…: a model file another process writes (a run folder's model.safetensors)."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Follow a run: its model file", str(runs_dir()),
                                              "VAE Studio models (*.safetensors);;All files (*)")
        if path:
            self.follow(path)

    def choose_folder(self) -> None:
        """File > Follow run folder…: a run folder, whose model file may not be written yet."""
        path = QFileDialog.getExistingDirectory(self.window, "Follow a run: its folder", str(runs_dir()))
        if path:
            self.follow(path)

    def follow(self, path: str | Path, *, poll_ms: int = POLL_MS, settle_ms: int = SETTLE_MS) -> RunFollower:
        """Follow the model file at `path` (or in the run folder `path`) until another model is shown."""
        self.stop()
        follower = RunFollower(path, self.window.jobs, self, poll_ms=poll_ms, settle_ms=settle_ms)
        follower.versionRead.connect(self._show)
        follower.waiting.connect(self._show_waiting)
        self.follower, self.shown_epoch = follower, None
        self.window.statusBar().showMessage(f"Following {follower.path}", 4000)
        follower.start()
        return follower

    def stop(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
            self.follower, self.shown_epoch = None, None

    def _show(self, saved: SavedModel) -> None:
        window, session = self.window, self.window.session
        if saved.epoch == self.shown_epoch:
            return
        same_network = (self.shown_epoch is not None and session.model is not None
                        and session.model.config == saved.config and session.source == saved.source)
        self.shown_epoch = saved.epoch
        if not same_network:  # the first version, or another network written to the same file
            window.show_model(saved, "followed")
        else:  # the next epoch of the same run: new weights, as at a local run's epoch end
            session.training, session.class_names = saved.training, list(saved.class_names)
            session.update_weights(saved.model.state_dict(), saved.epoch, saved.history)
            window.show_saved_history(saved.history, saved.training.batch_size)
        if saved.history.epochs:
            window.panel.show_epoch(saved.history.epochs[-1])
        window.panel.show_status(f"Following {saved.source}: epoch {saved.epoch} of {saved.training.epochs}, "
                                 f"read at {time.strftime('%H:%M:%S')}.")
        self.followed.emit(saved)

    def _show_waiting(self, message: str) -> None:
        self.window.panel.show_status(message)

    def _on_model_changed(self) -> None:
        """Another model shown (opened, trained here): following ends."""
        session = self.window.session
        if self.follower is not None and (
                session.origin != "followed" or os.path.abspath(session.source) != os.path.abspath(self.path)):
            self.stop()
