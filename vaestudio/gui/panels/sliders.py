"""One slider per latent dimension, the decoded image live while dragging, and a traversal grid.

Sliders are ordered by each dimension's mean KL on the test set (the latest epoch's
evaluation), most informative first, and span +-3 prior standard deviations. The panel
keeps the latent vector itself: moving a slider writes exactly that one coordinate, so a
starting point outside the sliders' range keeps its other coordinates untouched. The
traversal grid sweeps each dimension across the range with the others held at the
current point; it is redrawn a moment after dragging stops, not on every move, as an
interactive job of the window's runner (up to 224 decodes: some 60 ms for the conv model,
which would otherwise hold up the GUI thread at every epoch end).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.data.factors import dimension_factors
from vaestudio.core.latent.space import decode_latents, encode_images, sample_prior
from vaestudio.gui.jobs import JobRunner, Priority
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.training.kl_bars import INFORMATIVE_KL
from vaestudio.gui.widgets.image_preview import ImagePreview
from vaestudio.gui.widgets.image_strip import ImageGrid

SLIDER_RANGE = 3.0         # prior standard deviations either side of zero
SLIDER_TICKS_PER_UNIT = 100
TRAVERSAL_VALUES = np.linspace(-SLIDER_RANGE, SLIDER_RANGE, 7)
TRAVERSAL_MAX_ROWS = 32
TRAVERSAL_DELAY_MS = 120
TRAVERSAL_JOB = "sliders: traversal"


def kl_order(kl: np.ndarray | None, latent_dim: int) -> np.ndarray:
    """Dimensions by decreasing KL (ties and unknown KL: by index)."""
    if kl is None:
        return np.arange(latent_dim)
    return np.argsort(-np.asarray(kl, dtype=np.float64), kind="stable")


class _DimensionSlider(QSlider):
    """A horizontal slider over +-SLIDER_RANGE that reports its latent dimension and value."""

    coordinateChanged = Signal(int, float)

    def __init__(self, dimension: int, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.dimension = dimension
        limit = int(SLIDER_RANGE * SLIDER_TICKS_PER_UNIT)
        self.setRange(-limit, limit)
        self.setSingleStep(5)
        self.setPageStep(50)
        self.setMinimumWidth(120)
        self.valueChanged.connect(self._report)

    def _report(self, value: int) -> None:
        self.coordinateChanged.emit(self.dimension, value / SLIDER_TICKS_PER_UNIT)


class SlidersPanel(QWidget):
    """Drag a latent coordinate and watch the decoded image; see what every dimension does."""

    latentChanged = Signal(object)  # (D,) the current point, after every change
    traversalShown = Signal()       # the traversal grid shows the current point

    def __init__(self, session: ModelSession, parent: QWidget | None = None, jobs: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.jobs = JobRunner(self) if jobs is None else jobs  # alone it brings its own; in the window it shares one
        self.dataset: ImageDataset | None = None
        self.followed_factors: list[str] | None = None  # per dimension, the factor it follows most (shapes)
        self.z = np.zeros(0, np.float32)
        self.start = np.zeros(0, np.float32)
        self.start_description = "zero"
        self.kl: np.ndarray | None = None
        self.order = np.zeros(0, np.int64)
        self.sliders: dict[int, QSlider] = {}
        self._value_labels: dict[int, QLabel] = {}
        self._name_labels: dict[int, QLabel] = {}
        self._rng = np.random.default_rng()

        self.preview = ImagePreview("Decoded", minimum_side=84, caption_lines=2)
        self.zero_button = QPushButton("Zero")
        self.zero_button.setToolTip("Start from the prior's mean, z = 0")
        self.test_button = QPushButton("Test image")
        self.test_button.setToolTip("Start from the encoded mean of a random test image")
        self.prior_button = QPushButton("Prior draw")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the starting point")
        self.slider_area = QScrollArea()
        self.slider_area.setWidgetResizable(True)
        self.slider_area.setMinimumWidth(260)
        self.traversal = ImageGrid(columns=len(TRAVERSAL_VALUES), gap=2, minimum_tile=20,
                                   placeholder="Load a model to see its latent dimensions.")
        # Its least height is three rows, however many it shows (it shows what fits): a 20-d model must not make
        # the tools under the map taller than the room they have at 1280x800.
        self.traversal.setMinimumHeight(self.traversal.fontMetrics().height() + 3 * (28 + 2) + 4)
        self.traversal_label = QLabel()
        self.traversal_label.setWordWrap(True)
        self.traversal_timer = QTimer(self)
        self.traversal_timer.setSingleShot(True)
        self.traversal_timer.setInterval(TRAVERSAL_DELAY_MS)

        starts = QGridLayout()
        starts.addWidget(QLabel("Start from"), 0, 0, 1, 2)
        starts.addWidget(self.zero_button, 1, 0)
        starts.addWidget(self.test_button, 1, 1)
        starts.addWidget(self.prior_button, 2, 0)
        starts.addWidget(self.reset_button, 2, 1)
        left = QVBoxLayout()
        left.addWidget(self.preview, 1)
        left.addLayout(starts)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Traversal</b>: each row sweeps one dimension from −3 to +3"))
        right.addWidget(self.traversal, 1)
        right.addWidget(self.traversal_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.slider_header = QLabel("<b>Sliders</b>: dimension · mean KL (nats), most informative first")
        middle = QVBoxLayout()
        middle.addWidget(self.slider_header)
        middle.addWidget(self.slider_area, 1)
        layout.addLayout(left, 2)
        layout.addLayout(middle, 3)
        layout.addLayout(right, 4)

        self.zero_button.clicked.connect(self._start_from_zero)
        self.test_button.clicked.connect(self._start_from_random_test_image)
        self.prior_button.clicked.connect(self._start_from_prior)
        self.reset_button.clicked.connect(self.reset)
        self.traversal_timer.timeout.connect(self.update_traversal)
        self.traversal.installEventFilter(self)
        session.modelChanged.connect(self._on_model_changed)
        session.weightsUpdated.connect(self._on_weights_updated)
        self._on_model_changed()

    # ------------------------------------------------------------------ inputs
    @property
    def latent_dim(self) -> int:
        return self.session.model.latent_dim if self.session.model is not None else 0

    def set_test_data(self, dataset: ImageDataset | None) -> None:
        self.dataset = dataset
        self.followed_factors = None
        self._update_controls()
        if dataset is not None and dataset.factors is not None:
            self.update_traversal()  # its rows name the factors they follow

    def use_latent(self, z: np.ndarray) -> None:
        """Start from a point clicked on the latent map."""
        self.set_start(z, "a point from the map")

    def set_start(self, z: np.ndarray, description: str = "") -> None:
        """Move every slider to `z` (coordinates beyond +-3 are kept, the slider stops at its end)."""
        z = np.asarray(z, dtype=np.float32).reshape(-1)
        if self.session.model is None or z.shape[0] != self.latent_dim:
            return
        self.start = z.copy()
        self.start_description = description
        self.z = z.copy()
        for dimension in self.sliders:
            self._place_slider(dimension)
        self._show_decoded()
        self.update_traversal()

    def start_from_test_image(self, index: int | None = None) -> None:
        if self.session.model is None or self.dataset is None or len(self.dataset) == 0:
            return
        index = int(self._rng.integers(len(self.dataset))) if index is None else index
        mu = encode_images(self.session.model, self.dataset.images[index:index + 1]).mu[0]
        label = int(self.dataset.labels[index])
        names = self.dataset.class_names
        self.set_start(mu, f"test image #{index} (class {names[label] if 0 <= label < len(names) else label})")

    def reset(self) -> None:
        """Back to the starting point."""
        self.set_start(self.start, self.start_description)

    def _start_from_zero(self) -> None:
        self.set_start(np.zeros(self.latent_dim, np.float32), "zero")

    def _start_from_random_test_image(self) -> None:
        self.start_from_test_image()

    def _start_from_prior(self) -> None:
        seed = int(self._rng.integers(2**31 - 1))
        self.set_start(sample_prior(1, self.latent_dim, seed)[0], f"a prior draw (seed {seed})")

    def set_value(self, dimension: int, value: float) -> None:
        """Move one coordinate (as dragging its slider does); the image is decoded at once."""
        self.z[dimension] = np.float32(value)
        self._place_slider(dimension)
        self._show_decoded()
        self.traversal_timer.start()

    def inactive_dimensions(self) -> list[int]:
        """Dimensions whose mean KL is below the informative threshold (empty when KL is unknown)."""
        if self.kl is None:
            return []
        return [int(d) for d in np.flatnonzero(self.kl < INFORMATIVE_KL)]

    # ------------------------------------------------------------------- model
    def _latest_kl(self) -> np.ndarray | None:
        epochs = self.session.history.epochs
        if epochs and len(epochs[-1].test.kl_per_dim) == self.latent_dim:
            return np.asarray(epochs[-1].test.kl_per_dim, dtype=np.float64)
        return None

    def _on_model_changed(self) -> None:
        if self.z.shape[0] != self.latent_dim:
            self.z = np.zeros(self.latent_dim, np.float32)
            self.start = self.z.copy()
            self.start_description = "zero"
        self._on_weights_updated()

    def _on_weights_updated(self) -> None:
        self.followed_factors = None  # the new weights may follow other factors
        self.kl = self._latest_kl()
        order = kl_order(self.kl, self.latent_dim)
        if len(self.sliders) != self.latent_dim:
            self.order = order
            self._build_sliders()
        elif not np.array_equal(order, self.order):
            self.order = order
            self._arrange_rows()  # the same slider widgets, moved: a drag in progress goes on
        self._label_sliders()
        self._update_controls()
        self._show_decoded()
        self.update_traversal()

    # ------------------------------------------------------------------ sliders
    def _build_sliders(self) -> None:
        self.sliders, self._value_labels, self._name_labels = {}, {}, {}
        container = QWidget()
        grid = QGridLayout(container)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setVerticalSpacing(2)
        for dimension in range(self.latent_dim):
            slider = _DimensionSlider(dimension)
            slider.coordinateChanged.connect(self.set_value)
            name, value = QLabel(), QLabel()
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("−0.00 "))
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.sliders[dimension], self._value_labels[dimension], self._name_labels[dimension] = slider, value, name
            self._place_slider(dimension)
        grid.setColumnStretch(1, 1)
        self._arrange_rows(grid)
        self.slider_area.setWidget(container)

    def _arrange_rows(self, grid: QGridLayout | None = None) -> None:
        """Lay the slider rows out in KL order."""
        grid = grid or self.slider_area.widget().layout()
        for row, dimension in enumerate(int(d) for d in self.order):
            for column, widget in enumerate((self._name_labels[dimension], self.sliders[dimension],
                                             self._value_labels[dimension])):
                grid.removeWidget(widget)
                grid.addWidget(widget, row, column)
        grid.setRowStretch(self.latent_dim, 1)

    def _label_sliders(self) -> None:
        self.slider_header.setText("<b>Sliders</b>: " + ("dimension (KL unknown)" if self.kl is None else
                                   "dimension · mean KL (nats), most informative first"))
        inactive = set(self.inactive_dimensions())
        for dimension, label in self._name_labels.items():
            if self.kl is None:
                label.setText(f"z{dimension + 1}")
                label.setToolTip("KL unknown: this model has no test evaluation")
            elif dimension in inactive:
                label.setText(f"<span style='color:#999'>z{dimension + 1} · {self.kl[dimension]:.2f} · inactive</span>")
                label.setToolTip("Its KL is near zero: the encoder ignores this dimension (collapsed to the prior)")
            else:
                label.setText(f"z{dimension + 1} · {self.kl[dimension]:.2f}")
                label.setToolTip(f"mean KL {self.kl[dimension]:.3f} nats on the test set")

    def _place_slider(self, dimension: int) -> None:
        """Show z[dimension] on its slider without writing it back (the slider clips, z does not)."""
        slider = self.sliders.get(dimension)
        if slider is None:
            return
        value = float(self.z[dimension])
        slider.blockSignals(True)
        slider.setValue(int(round(np.clip(value, -SLIDER_RANGE, SLIDER_RANGE) * SLIDER_TICKS_PER_UNIT)))
        slider.blockSignals(False)
        self._value_labels[dimension].setText(f"{value:+.2f}")

    def _update_controls(self) -> None:
        has_model = self.session.model is not None
        for button in (self.zero_button, self.prior_button, self.reset_button):
            button.setEnabled(has_model)
        self.test_button.setEnabled(has_model and self.dataset is not None and len(self.dataset) > 0)

    # ------------------------------------------------------------------- views
    def _show_decoded(self) -> None:
        """Decode the current point and show it: the path that runs on every slider move."""
        model = self.session.model
        if model is None:
            self.preview.set_message("Load a model to explore its latent dimensions.")
            return
        self.preview.set_image(decode_latents(model, self.z)[0], f"from {self.start_description}")
        self.latentChanged.emit(self.z.copy())

    def traversal_rows(self) -> np.ndarray:
        """The dimensions shown in the traversal grid, most informative first: as many as fit at one screen
        pixel per image pixel or more (all, up to TRAVERSAL_MAX_ROWS, while the panel is not shown)."""
        return self.order[:self._fitting_rows()]

    def _fitting_rows(self) -> int:
        grid = self.traversal
        if not grid.isVisible() or grid.height() < 28:
            return TRAVERSAL_MAX_ROWS
        header = grid.fontMetrics().height() + 2  # the column labels
        return max(1, min(TRAVERSAL_MAX_ROWS, (grid.height() - header - grid.gap) // (28 + grid.gap)))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        """A resized traversal grid that now fits another number of rows is decoded again (after a pause)."""
        if (watched is self.traversal and event.type() in (QEvent.Type.Resize, QEvent.Type.Show)
                and self.session.model is not None
                and min(self._fitting_rows(), self.latent_dim) != min(self.traversal.rows, self.latent_dim)):
            self.traversal_timer.start()
        return False

    def update_traversal(self) -> None:
        """Decode the traversal grid of the current point (a job; a newer request replaces it)."""
        self.traversal_timer.stop()
        if self.session.model is None:
            self.jobs.cancel(TRAVERSAL_JOB)
            self.traversal.clear("Load a model to see its latent dimensions.")
            self.traversal_label.setText("")
            return
        rows = self.traversal_rows()
        latents = np.repeat(self.z[None, :], len(rows) * len(TRAVERSAL_VALUES), axis=0)
        for row, dimension in enumerate(rows):
            latents[row * len(TRAVERSAL_VALUES):(row + 1) * len(TRAVERSAL_VALUES), dimension] = TRAVERSAL_VALUES
        snapshot = self.session.snapshot()
        factors = self.dataset.factors if self.dataset is not None else None
        test_images = self.dataset.images if factors is not None and self.followed_factors is None else None

        def job(cancel, report):
            network = snapshot.network()
            followed = None
            if test_images is not None:  # once per model and data: which factor each dimension follows
                followed = dimension_factors(factors, encode_images(network, test_images).mu)
            return rows, decode_latents(network, latents), followed

        self.jobs.submit(TRAVERSAL_JOB, job, priority=Priority.INTERACTIVE, description="Decoding the traversal grid",
                         on_result=self._show_traversal)

    def _show_traversal(self, result: tuple[np.ndarray, np.ndarray, list[str] | None]) -> None:
        rows, images, followed = result
        if followed is not None and len(followed) == self.latent_dim:
            self.followed_factors = followed
        inactive = set(self.inactive_dimensions())
        labels = [f"z{d + 1}" if self.kl is None else f"z{d + 1}  {self.kl[d]:.2f}" for d in rows]
        if self.followed_factors is not None:
            labels = [f"{label}  {self.followed_factors[d]}".rstrip() for label, d in zip(labels, rows)]
        self.traversal.set_images(images, row_labels=labels,
                                  column_labels=["0" if value == 0 else f"{value:+g}" for value in TRAVERSAL_VALUES],
                                  dimmed_rows=[int(d) in inactive for d in rows])
        hidden = self.latent_dim - len(rows)
        text = "Row labels: dimension and its mean KL (nats). " if self.kl is not None else (
            "KL unknown for this model: dimensions in index order. ")
        if self.followed_factors is not None:
            text += "Then the dataset's factor each dimension follows most (|correlation| of at least 0.3). "
        if inactive:
            text += f"Faded rows: {len(inactive)} inactive dimensions (KL below {INFORMATIVE_KL} nats). "
        if hidden > 0:
            text += f"The {hidden} least informative dimensions are not shown."
        self.traversal_label.setText(text)
        self.traversalShown.emit()
