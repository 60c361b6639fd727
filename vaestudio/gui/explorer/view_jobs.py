"""Background work on the explorer's t-SNE or UMAP view besides the map itself: its progress
with a Cancel button, placing a latent vector in it (the sketch's mean, by the view's
transform) and UMAP's approximate inverse of a click. Both are interactive jobs of the
explorer's runner: they run at the next checkpoint of a view being computed meanwhile.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from vaestudio.core.latent.embeddings import EMBEDDINGS, NEIGHBOUR_SHARE, MapView
from vaestudio.gui.jobs import JobRunner, Priority

PLACE_JOB, INVERSE_JOB = "explorer: place in view", "explorer: approximate inverse"


class ViewProgress(QWidget):
    """A progress bar and Cancel for the view being computed; hidden when none is.

    Cancel hides it and emits `cancelRequested(kind)` with the view's kind ('tsne' or 'umap').
    """

    cancelRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind: str | None = None  # the view being computed, or None
        self.count, self.fraction = 0, 0.0
        self.bar = QProgressBar(minimum=0, maximum=100, textVisible=True)
        self.bar.setFixedWidth(170)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing this view; the map keeps what it shows")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    def start(self, kind: str, count: int) -> None:
        """Show that the `kind` view of `count` points is being computed."""
        self.kind, self.count, self.fraction = kind, count, 0.0
        self.bar.setValue(0)
        self.bar.setFormat(f"{EMBEDDINGS[kind]} %p%")
        self.show()

    def set_fraction(self, fraction: float) -> None:
        if self.kind is not None:
            self.fraction = min(max(fraction, 0.0), 1.0)
            self.bar.setValue(round(100 * self.fraction))

    def cancel(self) -> None:
        kind = self.kind
        self.finish()
        if kind is not None:
            self.cancelRequested.emit(kind)

    def finish(self) -> None:
        self.kind = None
        self.hide()

    def describe(self) -> str:
        """The status line for the view being computed ('' when none is)."""
        if self.kind is None:
            return ""
        text = f"Computing the {EMBEDDINGS[self.kind]} of {self.count:,} points… {self.fraction:.0%}"
        if self.kind == "umap" and self.fraction < NEIGHBOUR_SHARE:
            text += " (UMAP first finds neighbours, and compiles its code on its first run in a session: a minute)"
        return text


class ViewPoints(QObject):
    """Places latent vectors in a view and finds approximate latent vectors of view points.

    Only the newest request of each counts; `withdraw` drops the answers still awaited.
    `placed(view, point)`: map point (2,) of the vector last given to `place`.
    `approximated(view, x, y, z)`: the approximate latent vector (D,) of map point (x, y).
    `approximationFailed(message)`: UMAP's inverse raised (the runner shows the message too).
    """

    placed = Signal(object, object)
    approximated = Signal(object, float, float, object)
    approximationFailed = Signal(str)

    def __init__(self, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs

    def place(self, view: MapView, z: np.ndarray) -> None:
        z = np.asarray(z, dtype=np.float32)
        self.jobs.submit(PLACE_JOB, lambda cancel, report: (view, view.place(z[None])[0]),
                         priority=Priority.INTERACTIVE, description=f"Placing the sketch in the {view.title} view",
                         on_result=self._on_placed)

    def approximate(self, view: MapView, x: float, y: float) -> None:
        self.jobs.submit(INVERSE_JOB, lambda cancel, report: (view, x, y, view.approximate_latent([[x, y]])[0]),
                         priority=Priority.INTERACTIVE, description="Finding an approximate latent point (UMAP's "
                         "inverse)", on_result=self._on_approximated, on_error=self.approximationFailed.emit)

    def withdraw(self, placing: bool = False, approximating: bool = False) -> None:
        for kind, drop in ((PLACE_JOB, placing), (INVERSE_JOB, approximating)):
            if drop:
                self.jobs.cancel(kind)

    def _on_placed(self, result: tuple) -> None:
        self.placed.emit(*result)

    def _on_approximated(self, result: tuple) -> None:
        self.approximated.emit(*result)
