"""Computing what the latent map shows: encoding the test images, laying them out (a plane, PCA,
t-SNE or UMAP), the decoded background, the axes and the status line under the map.

A mixin of `ExplorerPanel`. Every computation is a job of the panel's runner from plain data
(numpy arrays, a snapshot of the weights); only the newest request of each kind counts.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vaestudio.core.data.catalogue import dataset_title
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
    encode_images,
    layout_map,
    make_plane,
    subsample_indices,
)
from vaestudio.core.models.networks import VAE
from vaestudio.gui.explorer.latent_map import axis_labels
from vaestudio.gui.jobs import Priority

ENCODE_CHUNK = 2000  # images encoded between two checkpoints of the map job (encode_images' own batch)
# A new map of more points than this, on a plane that does not depend on the data (not PCA), first shows
# this many of them: at start-up the map is drawn after encoding 2,000 test images instead of 10,000
# (benchmarks/startup.py), and a conv model's slower encoding shows points early. The rest follow.
PREVIEW_POINTS = 2000
MAP_JOB, PREVIEW_JOB, BACKGROUND_JOB = "explorer: map", "explorer: first points", "explorer: background"


def encode_in_steps(model: VAE, images: np.ndarray, report) -> np.ndarray | None:
    """Posterior means of uint8 images (N, H, W[, 3]), a chunk at a time with a job checkpoint
    (`report()`) before each; None once a checkpoint says stop."""
    chunks = []
    for start in range(0, len(images), ENCODE_CHUNK):
        if not report():
            return None
        chunks.append(encode_images(model, torch.from_numpy(np.ascontiguousarray(images[start:start + ENCODE_CHUNK]))).mu)
    return np.concatenate(chunks) if chunks else np.zeros((0, model.latent_dim), np.float32)


class MapUpdates:
    """The map's points, view, background and status, kept in step with the settings and the model."""

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

        if (encode and self.result is None and len(shown) > PREVIEW_POINTS
                and settings.projection not in ("pca", *EMBEDDINGS)):
            self._request_preview(snapshot, images, labels, shown[subsample_indices(len(shown), PREVIEW_POINTS, 1)])
        title = EMBEDDINGS.get(settings.projection)
        self.jobs.submit(MAP_JOB, job, priority=Priority.VISIBLE if settings.linear else Priority.BACKGROUND,
                         description="Encoding the test images for the map" if settings.linear
                         else f"Computing the {title} map", on_result=self._apply_map, on_error=self._on_map_failed,
                         on_progress=self._on_map_progress)

    def _request_preview(self, snapshot, images: np.ndarray, labels: np.ndarray, first: np.ndarray) -> None:
        """Encode and show `first` (a few of the points) while the map job encodes them all (queued behind this)."""
        settings, model = self.settings, self.session.model

        def job(cancel, report):
            means = encode_in_steps(snapshot.network(), images[first], report)
            return None if means is None else build_map(None, images, labels, first, settings.projection, mu=means,
                                                        first=settings.first, second=settings.second)

        def show(result: LatentMapData | None) -> None:
            if (result is not None and self.result is None and self.images is images and self.session.model is model
                    and self.jobs.is_busy(MAP_JOB)):  # the whole map of this model is still being computed
                self._apply_map(result, preview_of=len(images))

        self.jobs.submit(PREVIEW_JOB, job, priority=Priority.VISIBLE, description="Encoding the first test images",
                         on_result=show, on_error=self._on_map_failed)

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

    def _apply_map(self, result: LatentMapData, preview_of: int | None = None) -> None:
        """Show a computed map; `preview_of`: it holds a few of that many points, the rest are being encoded."""
        model = self.session.model
        if self.images is None or model is None or result.mu.shape[1] != model.latent_dim:
            return  # the data or the model changed while this was computed (a newer map is on its way)
        self.map_preview = preview_of is not None
        self.view_progress.finish()
        self.result, self._shown = result, self._requested
        view = result.layout.view
        self.latent_map.snap_to_points = view is not None and not view.has_inverse
        self.latent_map.set_message(None)
        groups, names, colours = self._point_groups(result)
        self.latent_map.set_points(result.layout.points, groups, names, keep_view=not self._reset_view, colours=colours)
        self._reset_view = False
        self._apply_axes()
        self.last_update_ms = (time.perf_counter() - self._requested_at) * 1000
        self._update_status(f"The first {len(result.indices):,} of {preview_of:,} test images; encoding the rest. "
                            if preview_of is not None else "")
        self._mark(self._latent)
        self._request_background()
        self.mapUpdated.emit()

    def _on_map_failed(self, message: str) -> None:
        self.view_progress.finish()
        self.status.setText(f"Could not draw the map: {message}")

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
        title = dataset_title(self.dataset_spec or "")
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
