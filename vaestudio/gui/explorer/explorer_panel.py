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

import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import NAMED_DATASETS, fetch_dataset, load_split
from vaestudio.core.data.folders import dataset_in_folder
from vaestudio.core.errors import DatasetError
from vaestudio.core.latent.embeddings import (
    EMBEDDINGS,
    EmbeddingCancelled,
    EmbeddingConfig,
    MapView,
)
from vaestudio.core.latent.space import (
    LatentMapData,
    PCAProjection,
    Projection,
    build_map,
    decode_grid,
    decode_latents,
    encode_images,
    layout_map,
    make_plane,
    sample_prior,
    subsample_indices,
)
from vaestudio.core.models.networks import VAE
from vaestudio.gui.explorer.latent_map import LatentMap, axis_labels
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
from vaestudio.gui.jobs import JobRunner, Priority
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets.dialogs import show_error
from vaestudio.gui.widgets.image_preview import (
    ImagePreview,
    SampleView,
    describe_vector,
)

DECODED_TITLE = "Decoded at the clicked point"
ENCODE_CHUNK = 2000  # images encoded between two checkpoints of the map job (encode_images' own batch)
# The explorer's kinds of job on the shared runner
DATASET_JOB, FETCH_JOB, MAP_JOB = "explorer: test images", "explorer: fetch", "explorer: map"
BACKGROUND_JOB, HOVER_JOB = "explorer: background", "explorer: hover"
JOB_KINDS = (DATASET_JOB, FETCH_JOB, MAP_JOB, BACKGROUND_JOB, HOVER_JOB, PLACE_JOB, INVERSE_JOB)


def encode_in_steps(model: VAE, images: np.ndarray, report) -> np.ndarray | None:
    """Posterior means of uint8 images (N, 28, 28), a chunk at a time with a job checkpoint
    (`report()`) before each; None once a checkpoint says stop."""
    chunks = []
    for start in range(0, len(images), ENCODE_CHUNK):
        if not report():
            return None
        chunks.append(encode_images(model, torch.from_numpy(np.ascontiguousarray(images[start:start + ENCODE_CHUNK]))).mu)
    return np.concatenate(chunks) if chunks else np.zeros((0, model.latent_dim), np.float32)


class ExplorerPanel(QWidget):
    """`pointChosen(z)`: a latent vector (float32, (D,)) decoded in the preview.
    `sampleChosen(index)`: a test image chosen on the map (index into the test split)."""

    pointChosen = Signal(object)
    sampleChosen = Signal(int)
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
        self.images: np.ndarray | None = None  # the whole test split: uint8 (N, 28, 28), labels, class names
        self.labels: np.ndarray | None = None
        self.class_names: list[str] = []
        self.result: LatentMapData | None = None
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
        self.latent_map = LatentMap()
        self.status = QLabel(wordWrap=True)
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 4)  # the map keeps its size
        self.decoded = ImagePreview(DECODED_TITLE, minimum_side=196)
        self.decoded.set_message("Click anywhere on the map")
        self.sample_view = SampleView()
        self.sample_button = QPushButton("Sample from the prior")
        self.controls = ProjectionControls()
        side = QWidget()  # in a scroll area, so that a short window scrolls it rather than squeezing the map
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 6, 0)
        for widget, stretch in ((self.decoded, 1), (self.sample_view, 0), (self.sample_button, 0), (self.controls, 0)):
            side_layout.addWidget(widget, stretch)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame, minimumWidth=330, maximumWidth=330)
        scroll.setWidget(side)
        self.view_progress = ViewProgress()
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.view_progress)
        left = QVBoxLayout()
        left.addWidget(self.latent_map, 1)
        left.addLayout(status_row)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addWidget(scroll)
        self.latent_map.clicked.connect(self._on_map_clicked)
        self.latent_map.hovered.connect(self._on_map_hovered)
        self.latent_map.fetchRequested.connect(self.fetch_dataset)
        self.latent_map.openRequested.connect(self.open_dataset_folder)
        self.controls.changed.connect(self._on_settings_changed)
        self.view_progress.cancelRequested.connect(self._on_view_cancelled)
        self.sample_button.clicked.connect(self.sample_prior)
        self._apply_appearance()

    # -- model and data --------------------------------------------------------------------

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
        if self.dataset_spec != source[0]:
            self._load_dataset(*source)
        elif self.images is None:
            self._apply_axes()
        else:
            self._request_map(encode=True)
        self._request_background()

    def _load_dataset(self, spec: str, data_dir: str | None) -> None:
        self.dataset_spec, self.dataset_error, self.images, self.labels, self.result = spec, None, None, None, None
        self.status.setText(f"Loading the {spec} test images…")
        self.latent_map.set_message(self.status.text())

        def job(cancel, report):
            test = load_split(spec, "test", data_dir=data_dir, download=False)  # the map needs no training images
            return test.images.numpy(), test.labels.numpy().astype(np.int64), test.class_names

        self.jobs.submit(DATASET_JOB, job, priority=Priority.VISIBLE, description=f"Loading the {spec} test images",
                         on_result=self._on_dataset_loaded, on_error=self._on_dataset_failed, show_errors=False)

    def fetch_dataset(self) -> None:
        """Download the model's named dataset (only when the person asks), then load it."""
        name, data_dir = self._model_dataset(), self.data_dir
        self.latent_map.show_banner(f"Fetching {name}…")
        self.jobs.submit(FETCH_JOB, lambda cancel, report: fetch_dataset(name, data_dir), priority=Priority.VISIBLE,
                         description=f"Fetching {name}", on_result=self._on_dataset_fetched,
                         on_error=self._on_dataset_failed, show_errors=False)

    def open_dataset_folder(self, folder: str | Path | None = None) -> None:
        """Read the test images from a folder (asked for when not given)."""
        folder = folder or QFileDialog.getExistingDirectory(self, "Open a dataset folder (IDX files or class folders)")
        if not folder:
            return
        try:
            source = dataset_in_folder(folder, self._model_dataset())
        except (DatasetError, OSError) as error:
            show_error(self.window(), "This folder cannot be used as a dataset.", str(error))
            return
        self._source, self.dataset_spec = source, None
        self._refresh()

    def _on_dataset_loaded(self, result: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
        self.images, self.labels, self.class_names = result
        self.latent_map.hide_banner()
        self._request_map(encode=True)

    def _on_dataset_fetched(self, folder: object) -> None:
        self._source, self.dataset_spec = (self._model_dataset(), str(folder)), None
        self._refresh()

    def _on_map_failed(self, message: str) -> None:
        self.view_progress.finish()
        self.status.setText(f"Could not draw the map: {message}")

    def _on_dataset_failed(self, message: str) -> None:
        """No test images: a banner that says why, with what to do; the map still decodes clicks."""
        self.dataset_error, self.images, self.result = message, None, None
        spec, first_sentence = self.dataset_spec or "", message.splitlines()[0].split(". ")[0].rstrip(".")
        self.latent_map.show_banner(
            f"<b>No test images to place on the map:</b> {first_sentence}.<br>The decoder preview, the background "
            "grid and sampling still work from the model alone (details in the tooltip).", message,
            f"Fetch {NAMED_DATASETS[spec].title}" if spec in NAMED_DATASETS else None)
        self.latent_map.clear_points()
        self.latent_map.set_message("No data points: click anywhere to decode")
        self.sample_view.clear("No test images")
        self._apply_axes()
        self.status.setText(f"No test images; the map is the plane of {' and '.join(axis_labels(self.plane()))} "
                            f"of {self.session.describe()} (PCA, t-SNE and UMAP need encoded data).")
        self.latent_map.reset_view()
        self._request_background()

    # -- the map ---------------------------------------------------------------------------

    def _request_map(self, encode: bool) -> None:
        if self.images is None or self.session.model is None:
            return
        settings, images, labels = self.settings, self.images, self.labels
        shown = subsample_indices(len(images), settings.point_count or len(images), seed=0)
        same_points = self.result is not None and np.array_equal(shown, self.result.indices)
        snapshot, mu = (None, self.result.mu) if same_points and not encode else (self.session.snapshot(), None)
        init = None  # refine the view shown (same points, same settings) rather than start again
        if (same_points and self.view() is not None and self._shown is not None
                and settings.map_fields() == self._shown.map_fields()):
            init = self.result.layout.points
        self._requested, self._requested_at = settings, time.perf_counter()
        if settings.linear and mu is not None:  # a plane of known means: milliseconds, not queued behind a view
            self.jobs.cancel(MAP_JOB)
            self._apply_map(LatentMapData(self.result.indices, mu, layout_map(mu, settings.projection, settings.first,
                                                                              settings.second), self.result.labels))
            return
        if settings.linear:
            self.view_progress.finish()
        else:
            self.view_progress.start(settings.projection, len(shown))
            self.status.setText(self.view_progress.describe())
        view_config = EmbeddingConfig(perplexity=settings.perplexity, neighbours=settings.neighbours,
                                      seed=settings.view_seed)

        def job(cancel, report):
            means = mu if snapshot is None else encode_in_steps(snapshot.network(), images[shown], report)
            if means is None:
                return None
            try:
                data = build_map(None, images, labels, shown, settings.projection, mu=means, first=settings.first,
                                 second=settings.second, view_config=view_config, init=init, progress=report)
            except EmbeddingCancelled:
                return None
            return None if cancel.is_set() else data

        title = EMBEDDINGS.get(settings.projection)
        self.jobs.submit(MAP_JOB, job, priority=Priority.VISIBLE if settings.linear else Priority.BACKGROUND,
                         description="Encoding the test images for the map" if settings.linear
                         else f"Computing the {title} map", on_result=self._apply_map, on_error=self._on_map_failed,
                         on_progress=self._on_map_progress)

    def _on_map_progress(self, fraction: float) -> None:
        if self.view_progress.kind is not None:
            self.view_progress.set_fraction(fraction)
            self.status.setText(self.view_progress.describe())

    def _on_view_cancelled(self, kind: str) -> None:
        """Cancel pressed: stop the t-SNE or UMAP; the settings go back to the map shown (a plane when there is none)."""
        self.jobs.cancel(MAP_JOB)
        if self.result is None or self._shown is None:
            self.controls.show_default_projection()  # announced: the plane is computed
            return
        self._requested = self._shown
        self.controls.restore_map_settings(self._shown)
        self._update_status(f"Cancelled the {EMBEDDINGS[kind]}. ")

    def _apply_map(self, result: LatentMapData) -> None:
        if self.images is None:  # the data changed while this was computed
            return
        self.view_progress.finish()
        self.result, self._shown = result, self._requested
        view = result.layout.view
        self.latent_map.snap_to_points = view is not None and not view.has_inverse
        self.latent_map.set_message(None)
        self.latent_map.set_points(result.layout.points, result.labels, self.session.class_names or self.class_names,
                                   keep_view=not self._reset_view)
        self._reset_view = False
        self._apply_axes()
        self.last_update_ms = (time.perf_counter() - self._requested_at) * 1000
        self._update_status()
        self._mark(self._latent)
        self._request_background()
        self.mapUpdated.emit()

    def view(self) -> MapView | None:
        """The t-SNE or UMAP view the map shows, or None when it shows a plane."""
        return self.result.layout.view if self.result is not None else None

    def plane(self) -> Projection | None:
        """The invertible projection the map shows now (None for t-SNE, UMAP); z1, z2 while there is no data."""
        if self.result is not None:
            return self.result.layout.projection
        return make_plane(self.settings.projection, self.session.model.latent_dim)

    def _apply_axes(self) -> None:
        view = self.view()
        self.latent_map.set_axis_labels(*axis_labels(self.plane(), view.title if view is not None else "t-SNE"))

    def _update_status(self, prefix: str = "") -> None:
        layout, shown = self.result.layout, self._shown or self.settings
        spec = self.dataset_spec or ""
        title = NAMED_DATASETS[spec].title if spec in NAMED_DATASETS else Path(spec.partition(":")[2]).name
        what = f"{len(self.result.indices):,} test images of {title}, encoded by {self.session.describe()}"
        if layout.view is not None and not layout.view.has_inverse:
            what += (f"; their t-SNE (perplexity {shown.perplexity:.0f}, seed {shown.view_seed}) is a view only: "
                     "clicks snap to the nearest encoded point")
        elif layout.view is not None:
            what += (f"; their UMAP ({shown.neighbours} neighbours, seed {shown.view_seed}) is a view: clicks "
                     "decode UMAP's approximate inverse")
        elif isinstance(layout.projection, PCAProjection):
            what += "; the PCA plane passes through the mean of the encoded means"
        elif self.session.model.latent_dim > 2:
            what += "; clicks and the background hold the other latent dimensions at 0"
        took = f"{self.last_update_ms / 1000:.0f} s" if self.last_update_ms >= 10_000 else f"{self.last_update_ms:.0f} ms"
        self.status.setText(f"{prefix}{what}. Updated in {took}.")

    def _request_background(self) -> None:
        settings, plane = self.settings, self.plane()
        if not settings.background or plane is None or self.session.model is None:
            self.latent_map.set_background(None)
            return
        snapshot, extent, cells = self.session.snapshot(), settings.background_range, settings.background_cells
        self.jobs.submit(BACKGROUND_JOB, lambda cancel, report: (
            decode_grid(snapshot.network(), plane, cells, cells, extent), extent, cells), priority=Priority.VISIBLE,
            description="Decoding the background grid", on_result=self._show_background)

    def _show_background(self, result: tuple[np.ndarray, float, int]) -> None:
        if self.settings.background and self.settings.linear:
            self.latent_map.set_background(*result)
        self.backgroundUpdated.emit()

    def _on_settings_changed(self, aspect: str) -> None:
        if self.session.model is None:
            return
        if aspect == "appearance":
            self._apply_appearance()
        elif aspect == "background":
            self._request_background()
        elif self.images is not None:  # projection or number of points
            if self._requested is not None and self.settings.map_fields() == self._requested.map_fields():
                return  # e.g. the perplexity of a PCA map: the map shown (or being computed) stays right
            self._reset_view = self._reset_view or aspect == "projection"
            self._request_map(encode=False)
        else:
            self._apply_axes()
            self._request_background()

    def _apply_appearance(self) -> None:
        self.latent_map.set_point_style(self.settings.point_size, self.settings.opacity)

    # -- choosing points -------------------------------------------------------------------

    def _decode(self, z: np.ndarray) -> np.ndarray:
        return decode_latents(self.session.model, z[None])[0]

    def _show_decoded(self, z: np.ndarray, caption: str, announce: bool = True, approximate: bool = False) -> None:
        self._latent, self._approximate = np.asarray(z, dtype=np.float32), approximate
        self.view_points.withdraw(approximating=True)  # a newer choice than a click awaiting its inverse
        self.decoded.title_label.setText(f"{DECODED_TITLE} (approximate)" if approximate else DECODED_TITLE)
        self.decoded.set_image(self._decode(self._latent), caption)
        if announce:
            self.pointChosen.emit(self._latent.copy())

    def _request_approximate(self, view: MapView, x: float, y: float) -> None:
        """Decode UMAP's approximate inverse of map point (x, y), found in the background (seconds)."""
        self.view_points.approximate(view, x, y)
        self.decoded.title_label.setText(f"{DECODED_TITLE} (approximate)")
        self.decoded.set_message("Finding an approximate latent point for the click (UMAP's inverse)…",
                                 f"map ({x:.2f}, {y:.2f})")

    def _show_approximate(self, view: MapView, x: float, y: float, z: np.ndarray) -> None:
        if view is not self.view() or self.session.model is None or z.shape[0] != self.session.model.latent_dim:
            return
        self._show_decoded(z, f"Approximate: UMAP's inverse of map ({x:.2f}, {y:.2f}), a latent point "
                              f"fitted to the points around it\n{describe_vector(z)}", approximate=True)

    def place_sketch(self, mu: np.ndarray | None) -> None:
        """Show a latent vector (the sketch's posterior mean) on a t-SNE or UMAP view, placed by the
        view's transform in the background; None clears it."""
        view = self.view()
        if mu is None or view is None or mu.shape[-1] != self.result.mu.shape[1]:
            self.view_points.withdraw(placing=True)
            self.latent_map.set_sketch(None)
        else:
            self.view_points.place(view, mu)

    def _show_placed(self, view: MapView, point: np.ndarray) -> None:
        if view is self.view():
            self.latent_map.set_sketch(point)

    def _mark(self, z: np.ndarray | None) -> None:
        """Mark latent vector z on the map where the plane allows (its projection onto the plane)."""
        plane = self.plane()
        point = plane.to_map(z[None])[0] if plane is not None and z is not None else (None, None)
        self.latent_map.set_marker(*point)

    def _on_map_clicked(self, x: float, y: float, index: int) -> None:
        if self.session.model is None:
            return
        plane, view = self.plane(), self.view()
        if index >= 0 and self.result is not None:
            row = int(self.result.layout.rows[index])
            if plane is None and not (view is not None and view.has_inverse):  # t-SNE: snap to the point
                mu = self.result.mu[row]
                self._show_decoded(mu, f"Snapped to the nearest encoded point (its mean)\n{describe_vector(mu)}")
                self.latent_map.set_marker(*self.result.layout.points[index])
            self.show_sample(int(self.result.indices[row]))
        if plane is not None:
            z = plane.to_latent(np.array([[x, y]]))[0]
            self._show_decoded(z, f"map ({x:.2f}, {y:.2f})\n{describe_vector(z)}")
            self.latent_map.set_marker(x, y)
        elif view is not None and view.has_inverse:
            self._request_approximate(view, x, y)
            self.latent_map.set_marker(x, y)

    def show_sample(self, index: int, mark: bool = False) -> None:
        """Show test image `index` (original, reconstruction, label); `mark` also marks its mean on the map."""
        image = self.images[index]
        mu = encode_images(self.session.model, torch.from_numpy(image[None])).mu
        self._mark(mu[0]) if mark else None
        label, names = int(self.labels[index]), self.session.class_names or self.class_names
        name = names[label] if label < len(names) else str(label)
        self.sample_view.set_sample(image.astype(np.float32) / 255.0, self._decode(mu[0]),
                                    f"Test image #{index:,}: label <b>{name}</b>")
        self.sampleChosen.emit(index)

    def _on_map_hovered(self, x: float, y: float, index: int) -> None:
        """Decode the point under the cursor as an interactive job; while one runs, only the newest waits."""
        if self.session.model is None:
            return
        plane = self.plane()
        if plane is not None:
            z = plane.to_latent(np.array([[x, y]]))
        elif index >= 0 and self.result is not None:
            z = self.result.mu[int(self.result.layout.rows[index])][None]
        else:
            return
        snapshot = self.session.snapshot()
        self.jobs.submit(HOVER_JOB, lambda cancel, report: decode_latents(snapshot.network(), z)[0],
                         priority=Priority.INTERACTIVE, description="Decoding the point under the cursor",
                         on_result=self.latent_map.show_hover_image, cancel_running=False)

    def sample_prior(self) -> None:
        """Decode a draw from N(0, I) (seeded, one more each time) and mark it where the plane allows."""
        if self.session.model is None:
            return
        self._sample_seed += 1
        z = sample_prior(1, self.session.model.latent_dim, self._sample_seed)[0]
        self._show_decoded(z, f"Prior sample (seed {self._sample_seed})\n{describe_vector(z)}")
        self._mark(z)

    def shutdown(self) -> None:
        """Cancel the explorer's jobs (a t-SNE run too); its own runner, if it has one, is stopped and waited for."""
        if self._owns_jobs:
            self.jobs.shutdown()
        else:
            for kind in JOB_KINDS:
                self.jobs.cancel(kind)
