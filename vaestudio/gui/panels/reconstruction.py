"""Test images beside their reconstructions: resampled on demand, filtered by class, sorted by loss.

Per-image losses of the whole test split (to sort it, worst first) come from
`TestSetScores`, which scores the split as a background job of the window's `JobRunner`
once per model or weights change; the sketch pad reuses it for nearest neighbours. The pairs shown are decoded with
the core's `reconstruct_images` (the posterior mean, decoded), so what a person sees is
exactly what the core computes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.latent.reconstruction import ImageScores, score_images
from vaestudio.core.latent.space import reconstruct_images
from vaestudio.gui.jobs import JobRunner, Priority
from vaestudio.gui.model_session import ModelSession, ModelSnapshot
from vaestudio.gui.widgets.image_strip import ImageGrid, side_by_side

ORDERS = (("random", "Random sample"), ("worst", "Worst loss first"), ("best", "Best loss first"))
DEFAULT_PAIRS = 24


class TestSetScores(QObject):
    """The test split's posteriors and per-image losses under the current weights, as a background job.

    The job scores with its own network built from a snapshot of the weights, so the GUI
    keeps decoding with the session's model meanwhile. A newer request cancels an older one
    between batches; only the newest result is kept. A failure is shown in a dialog by the
    runner and announced on `failed` for the panel's status line.
    """

    ready = Signal()
    failed = Signal(str)

    def __init__(self, jobs: JobRunner, kind: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs, self.kind = jobs, kind
        self.scores: ImageScores | None = None

    @property
    def pending(self) -> bool:
        """A job for the current model is waiting or running."""
        return self.jobs.is_busy(self.kind)

    def reset(self) -> None:
        """Forget the scores (and drop the result of a job still running)."""
        self.jobs.cancel(self.kind)
        self.scores = None

    def compute(self, snapshot: ModelSnapshot | None, images) -> None:
        """Score `images` (uint8 tensor (N, H, W[, 3])) with the weights of `snapshot`; `ready` follows."""
        self.reset()
        if snapshot is None or images is None:
            return

        def job(cancel, report):
            return score_images(snapshot.network(), images, cancelled=lambda: not report())

        self.jobs.submit(self.kind, job, priority=Priority.BACKGROUND, description="Scoring the test images",
                         on_result=self._accept, on_error=self.failed.emit)

    def _accept(self, scores: ImageScores) -> None:
        self.scores = scores
        self.ready.emit()


class ReconstructionPanel(QWidget):
    """A grid of (test image | reconstruction) pairs; clicking one marks that test image on the map."""

    sampleMarked = Signal(int)

    def __init__(self, session: ModelSession, parent: QWidget | None = None, jobs: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.dataset: ImageDataset | None = None
        self.indices = np.zeros(0, np.int64)
        self.reconstructions = np.zeros((0, 28, 28), np.float32)
        self.marked: int | None = None
        self._rng = np.random.default_rng(0)
        self._random_order = np.zeros(0, np.int64)
        self._scores_stale = False
        self.jobs = JobRunner(self) if jobs is None else jobs  # alone it brings its own; in the window it shares one
        self.test_scores = TestSetScores(self.jobs, "reconstruction: scores", self)

        self.class_box = QComboBox()
        self.class_box.setToolTip("Show only test images of one class")
        self.order_box = QComboBox()
        for key, title in ORDERS:
            self.order_box.addItem(title, key)
        self.order_box.setToolTip("Per-image loss: reconstruction (nats) plus KL, with z at the posterior mean")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 96)
        self.count_spin.setValue(DEFAULT_PAIRS)
        self.count_spin.setSuffix(" pairs")
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw another random set of test images")
        self.grid = ImageGrid(columns=0, gap=6, placeholder="Load a model and a test set to see reconstructions.")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setMinimumWidth(480)  # a wrapped label's least height is taken at its least width: keep it 1-2 lines

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Class"))
        controls.addWidget(self.class_box)
        controls.addWidget(QLabel("Order"))
        controls.addWidget(self.order_box)
        controls.addWidget(self.count_spin)
        controls.addWidget(self.resample_button)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)

        self.class_box.currentIndexChanged.connect(self.refresh)
        self.order_box.currentIndexChanged.connect(self._on_order_changed)
        self.count_spin.valueChanged.connect(self.refresh)
        self.resample_button.clicked.connect(self.resample)
        self.grid.tileClicked.connect(self._on_tile_clicked)
        self.test_scores.ready.connect(self.refresh)
        self.test_scores.failed.connect(lambda message: self.status.setText(f"Could not score the test images: {message}"))
        session.modelChanged.connect(self._on_model_changed)
        session.weightsUpdated.connect(self._on_model_changed)
        self._fill_classes()
        self.refresh()

    # ------------------------------------------------------------------ inputs
    def set_test_data(self, dataset: ImageDataset | None) -> None:
        self.dataset = dataset
        self.marked = None
        self._random_order = self._rng.permutation(len(dataset)) if dataset is not None else np.zeros(0, np.int64)
        self._fill_classes()
        self._rescore()
        self.refresh()

    def resample(self) -> None:
        """Draw a new random set of test images (the random order)."""
        if self.dataset is not None:
            self._random_order = self._rng.permutation(len(self.dataset))
        self.refresh()

    def mark(self, index: int) -> None:
        """Mark test image `index` (highlight it if shown) and tell the map."""
        self.marked = int(index)
        shown = np.flatnonzero(self.indices == self.marked)
        self.grid.set_highlight(int(shown[0]) if shown.size else None)
        self.status.setText(self._describe(self.marked))
        self.sampleMarked.emit(self.marked)

    def _on_tile_clicked(self, tile: int) -> None:
        if 0 <= tile < self.indices.size:
            self.mark(int(self.indices[tile]))

    @property
    def order(self) -> str:
        return self.order_box.currentData()

    # ----------------------------------------------------------------- refresh
    def _fill_classes(self) -> None:
        names = list(self.dataset.class_names) if self.dataset is not None else []
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("All classes", -1)
        for label, name in enumerate(names):
            self.class_box.addItem(name, label)
        self.class_box.blockSignals(False)

    def _on_model_changed(self) -> None:
        self._rescore()
        self.refresh()

    def _on_order_changed(self) -> None:
        if self.order != "random" and self.test_scores.scores is None and self._scores_stale:
            self._rescore()
        self.refresh()

    def _rescore(self) -> None:
        """Score the test split now if the panel is shown, else when it is first shown."""
        self.test_scores.reset()
        self._scores_stale = True
        if self.isVisible():
            self._scores_stale = False
            self.test_scores.compute(self.session.snapshot(), self.dataset.images if self.dataset is not None else None)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._scores_stale:
            self._rescore()
            self.refresh()

    def _candidates(self) -> np.ndarray:
        label = self.class_box.currentData()
        labels = self.dataset.labels.numpy()
        if self.order == "random":
            order = self._random_order
            return order[labels[order] == label] if label is not None and label >= 0 else order
        scores = self.test_scores.scores
        everything = np.arange(len(self.dataset))
        if label is not None and label >= 0:
            everything = everything[labels == label]
        ranked = np.argsort(scores.loss[everything], kind="stable")
        return everything[ranked[::-1] if self.order == "worst" else ranked]

    def refresh(self) -> None:
        model, dataset = self.session.model, self.dataset
        self.resample_button.setEnabled(self.order == "random" and dataset is not None)
        if model is None or dataset is None or len(dataset) == 0:
            self._show_nothing("Load a model to see reconstructions." if model is None
                               else "Reconstructions appear once the test images are loaded.")
            return
        if self.order != "random" and self.test_scores.scores is None:
            self._show_nothing("Computing the loss of every test image…")
            return
        self.indices = self._candidates()[:self.count_spin.value()].astype(np.int64)
        if self.indices.size == 0:
            self._show_nothing("No test images of this class.")
            return
        originals = dataset.images[self.indices]
        self.reconstructions = reconstruct_images(model, originals)
        self.grid.set_images(side_by_side(originals.numpy(), self.reconstructions),
                             captions=[self._caption(int(index)) for index in self.indices])
        shown = np.flatnonzero(self.indices == self.marked) if self.marked is not None else np.zeros(0)
        self.grid.set_highlight(int(shown[0]) if shown.size else None)
        self.status.setText(self._describe(self.marked) if self.marked is not None else self._summary())

    def _show_nothing(self, message: str) -> None:
        self.indices = np.zeros(0, np.int64)
        self.reconstructions = np.zeros((0, 28, 28), np.float32)
        self.grid.clear(message)
        self.status.setText("")

    def _class_name(self, index: int) -> str:
        label = int(self.dataset.labels[index])
        names = self.dataset.class_names
        return names[label] if 0 <= label < len(names) else str(label)

    def _caption(self, index: int) -> str:
        scores = self.test_scores.scores
        if scores is None:
            return f"{self._class_name(index)} · #{index}"
        return f"{self._class_name(index)} · {scores.loss[index]:.0f}"

    def _summary(self) -> str:
        shown = "" if self.test_scores.scores is None else " Captions: class · loss in nats (reconstruction + KL)."
        return (f"{self.indices.size} test images (left of each pair) and their reconstructions (right), decoded "
                f"from the posterior mean.{shown} Click a pair to mark it on the latent map.")

    def _describe(self, index: int) -> str:
        if self.dataset is None or not 0 <= index < len(self.dataset):
            return ""
        text = f"Test image #{index}, class {self._class_name(index)}"
        scores = self.test_scores.scores
        if scores is not None:
            text += (f": loss {scores.loss[index]:.1f} nats = reconstruction {scores.reconstruction[index]:.1f} "
                     f"+ KL {scores.kl[index]:.1f}")
        return text + ". Marked on the latent map."
