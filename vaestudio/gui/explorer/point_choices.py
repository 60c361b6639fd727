"""Choosing a point on the latent map: a click decodes it (a plane's inverse, t-SNE's nearest encoded
point, UMAP's approximate inverse), a data point shows its test image, the cursor's point is
previewed, a prior sample is drawn; the chosen vector is marked on the map.

A mixin of `ExplorerPanel`. A click on a plane decodes its single vector on the GUI thread with
`session.model` (the session's own eval copy): the preview shows in the same frame. Hover
previews are interactive jobs of the panel's runner.
"""

from __future__ import annotations

import numpy as np
import torch

from vaestudio.core.latent.embeddings import MapView
from vaestudio.core.latent.space import (
    decode_latents,
    encode_images,
    sample_prior,
)
from vaestudio.gui.jobs import Priority
from vaestudio.gui.widgets.image_preview import describe_vector

DECODED_TITLE = "Decoded at the clicked point"
HOVER_JOB = "explorer: hover"


class PointChoices:
    """Clicks, hovers and samples on the map, shown in the decoded preview and the sample view."""

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
        fits = plane is not None and z is not None and z.shape[-1] == plane.origin.shape[-1]  # not another model's
        point = plane.to_map(z[None])[0] if fits else (None, None)
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
