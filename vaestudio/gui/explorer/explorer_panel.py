"""The latent explorer: a map of the encoded test set; click anywhere to decode, click a point to inspect it.

Threads: the test split is loaded, encoded, laid out (PCA, t-SNE, UMAP) and the decoded
background rendered as jobs of the window's `JobRunner`, from plain data only: numpy arrays
and a snapshot of the session's weights taken when the request is made. Only the newest
request of each kind counts; older results are dropped. A t-SNE or UMAP shows its progress
under the map with a Cancel button. Hover previews, placing the sketch in a view and UMAP's
approximate inverse of a click are interactive jobs, run before (and in the middle of) a
t-SNE or UMAP. A click on a plane decodes its single vector on the GUI thread with
`session.model` (the session's own eval copy): the preview shows in the same frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.factors import Factors
from vaestudio.core.latent.space import LatentMapData
from vaestudio.gui.explorer.explorer_data import DATASET_JOB, FETCH_JOB, ExplorerData
from vaestudio.gui.explorer.latent_map import LatentMap
from vaestudio.gui.explorer.map_menu import MapMenu
from vaestudio.gui.explorer.map_updates import BACKGROUND_JOB, MAP_JOB, MapUpdates
from vaestudio.gui.explorer.point_choices import DECODED_TITLE, HOVER_JOB, PointChoices
from vaestudio.gui.explorer.point_colours import PointColours
from vaestudio.gui.explorer.projection_controls import (
    ExplorerSettings,
    ProjectionControls,
)
from vaestudio.gui.explorer.view_jobs import (
    INVERSE_JOB,
    PLACE_JOB,
    ViewPoints,
    ViewProgress,
)
from vaestudio.gui.jobs import JobRunner
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets.image_preview import (
    ImagePreview,
    SampleView,
)

PREVIEWS_WIDTH = (196, 308)  # the previews' column, at least and at most
# The explorer's kinds of job on the shared runner
JOB_KINDS = (DATASET_JOB, FETCH_JOB, MAP_JOB, BACKGROUND_JOB, HOVER_JOB, PLACE_JOB, INVERSE_JOB)


class ExplorerPanel(ExplorerData, MapUpdates, PointChoices, MapMenu, PointColours, QWidget):
    """`pointChosen(z)`: a latent vector (float32, (D,)) decoded in the preview.
    `sampleChosen(index)`: a test image chosen on the map (index into the test split).
    `endpointChosen(which, z)`: the map's menu made a point interpolation end 'A' or 'B'."""

    pointChosen = Signal(object)
    sampleChosen = Signal(int)
    endpointChosen = Signal(str, object)  # the map's menu: 'A' or 'B', and the point's latent vector
    mapUpdated = Signal()
    backgroundUpdated = Signal()

    def __init__(self, session: ModelSession, parent: QWidget | None = None,
                 data_dir: str | Path | None = None, jobs: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.data_dir = None if data_dir is None else str(data_dir)
        self._owns_jobs = jobs is None  # alone (tests, benchmarks) it brings its own runner; in the window it shares one
        self.jobs = JobRunner(self) if jobs is None else jobs
        self.dataset_spec: str | None = None   # the data loaded (or tried)
        self.dataset_error: str | None = None
        self.images: np.ndarray | None = None  # the whole test split: uint8 (N, H, W[, 3]), labels, class names
        self.labels: np.ndarray | None = None
        self.class_names: list[str] = []
        self.factors: Factors | None = None    # ... and its known factors (the shapes dataset), if any
        self._loaded_shape: tuple[int, int] | None = None  # (image size, channels) the images were read at
        self.result: LatentMapData | None = None
        self.map_preview = False  # the map shows the first few points while the rest are encoded
        self.last_update_ms = 0.0              # request to redraw, of the last map
        self._source: tuple[str, str | None] | None = None  # (spec, data_dir) of a folder the person opened
        self._dataset_of_model: str | None = None
        self._reset_view = True
        self._requested: ExplorerSettings | None = None  # settings of the newest map asked for ...
        self._shown: ExplorerSettings | None = None      # ... and of the map shown
        self._latent: np.ndarray | None = None  # the vector decoded in the large preview
        self._approximate = False               # ... is UMAP's approximate inverse of a click
        self._sample_seed, self._requested_at = 0, 0.0
        self._build()
        session.modelChanged.connect(self._on_model_changed)
        session.weightsUpdated.connect(self._refresh)
        self.view_points = ViewPoints(self.jobs, self)
        self.view_points.placed.connect(self._show_placed)
        self.view_points.approximated.connect(self._show_approximate)
        self.view_points.approximationFailed.connect(
            lambda message: self.decoded.set_message("No approximate latent point for this click.", message))
        if self._owns_jobs:
            QCoreApplication.instance().aboutToQuit.connect(self.shutdown)
        self._on_model_changed()

    def _build(self) -> None:
        """The map (with its status line) on the left; beside it two columns, the decoded preview over the chosen
        test image, and the map's settings. Nothing scrolls: every control shows at 1280x800."""
        self.latent_map = LatentMap()
        self.status = QLabel(wordWrap=True)
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 4)  # the map keeps its size
        self.decoded = ImagePreview(DECODED_TITLE, minimum_side=84, caption_lines=3)
        self.decoded.set_message("Click anywhere on the map")
        self.sample_view = SampleView()
        self.sample_button = QPushButton("Sample from the prior")
        self.controls = ProjectionControls()
        self.previews = QWidget()  # its width follows the panel's (resizeEvent): the images grow by whole pixels
        previews = QVBoxLayout(self.previews)
        previews.setContentsMargins(0, 0, 0, 0)
        previews.addWidget(self.decoded, 3)
        previews.addWidget(self.sample_view, 2)
        settings = QVBoxLayout()
        settings.addWidget(self.controls)
        settings.addWidget(self.sample_button)
        settings.addStretch(1)
        self.view_progress = ViewProgress()
        self.colour_label = QLabel("Colour by:")
        self.colour_box = QComboBox()
        self.colour_box.setToolTip("Colour the points by their label or by one of the dataset's known factors")
        for widget in (self.colour_label, self.colour_box):
            widget.setVisible(False)  # shown when the dataset has factors
        status_row = QHBoxLayout()
        status_row.addWidget(self.colour_label)
        status_row.addWidget(self.colour_box)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.view_progress)
        left = QVBoxLayout()
        left.addWidget(self.latent_map, 1)
        left.addLayout(status_row)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addWidget(self.previews)
        layout.addLayout(settings)
        self._fit_previews()
        self.latent_map.clicked.connect(self._on_map_clicked)
        self.latent_map.contextRequested.connect(self._on_map_context)
        self.latent_map.hovered.connect(self._on_map_hovered)
        self.latent_map.fetchRequested.connect(self.fetch_dataset)
        self.latent_map.openRequested.connect(self.open_dataset_folder)
        self.controls.changed.connect(self._on_settings_changed)
        self.view_progress.cancelRequested.connect(self._on_view_cancelled)
        self.sample_button.clicked.connect(self.sample_prior)
        self.colour_box.currentIndexChanged.connect(self._recolour)
        self._apply_appearance()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_previews()

    def _fit_previews(self) -> None:
        """A fifth of the panel's width for the previews (196 to 308 pixels: 7 to 11 screen pixels per image pixel
        for the decoded image where the height allows)."""
        width = int(min(PREVIEWS_WIDTH[1], max(PREVIEWS_WIDTH[0], self.width() * 0.2)))
        if self.previews.width() != width:
            self.previews.setFixedWidth(width)

    @property
    def settings(self) -> ExplorerSettings:
        return self.controls.values()

    def _model_dataset(self) -> str:
        return self.session.training.dataset if self.session.training is not None else "mnist"

    def _on_model_changed(self) -> None:
        model = self.session.model
        for widget in (self.controls, self.sample_button):
            widget.setEnabled(model is not None)
        if model is None:
            self.latent_map.clear_points()
            self.latent_map.set_message("No model loaded: train one or open a model file.")
            return
        if self._model_dataset() != self._dataset_of_model:
            self._source = None  # a folder opened for another model's data
            self._dataset_of_model = self._model_dataset()
        if self.dataset_error is not None:
            self.dataset_spec = None  # try again: the data may have been copied meanwhile
        self.controls.set_latent_dim(model.latent_dim)
        self._apply_appearance()
        self._reset_view, self.result = True, None
        if self._latent is not None and self._latent.shape[0] != model.latent_dim:
            self._latent = None
            self.decoded.set_message("Click anywhere on the map")
        self.sample_view.clear()
        self._refresh()

    def _refresh(self) -> None:
        """Re-decode the preview, (re)load the data or re-encode it, and redraw the background."""
        if self.session.model is None:
            return
        if self._latent is not None:
            self._show_decoded(self._latent, self.decoded.caption(), announce=False, approximate=self._approximate)
        source = self._source or (self._model_dataset(), self.data_dir)
        if self.dataset_spec != source[0] or self._loaded_shape != self._model_shape():
            self._load_dataset(*source)
        elif self.images is None:
            self._apply_axes()
        else:
            self._request_map(encode=True)
        self._request_background()

    def shutdown(self) -> None:
        """Cancel the explorer's jobs (a t-SNE run too); its own runner, if it has one, is stopped and waited for."""
        if self._owns_jobs:
            self.jobs.shutdown()
        else:
            for kind in JOB_KINDS:
                self.jobs.cancel(kind)
