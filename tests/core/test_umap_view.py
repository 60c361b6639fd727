"""The UMAP view with umap-learn itself: layout, progress, stopping, placing new points and the
approximate inverse.

umap-learn compiles its numba code afresh in each process: one to two minutes on a 2-core
laptop before the first fit, place and inverse, however small the data. So these run only
when asked for, with umap-learn installed: `VAESTUDIO_UMAP_TESTS=1 pytest tests/core/test_umap_view.py`.
The GUI's handling of UMAP is tested without umap-learn (tests/gui/test_explorer_views.py).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from vaestudio.core.latent.embeddings import (
    NEIGHBOUR_SHARE,
    EmbeddingCancelled,
    EmbeddingConfig,
    umap_view,
)

if not os.environ.get("VAESTUDIO_UMAP_TESTS"):
    pytest.skip("umap-learn compiles for a minute or two: set VAESTUDIO_UMAP_TESTS=1 to run these",
                allow_module_level=True)
pytest.importorskip("umap")

CONFIG = EmbeddingConfig(neighbours=10, umap_epochs=60, seed=1)


def blobs(per_cluster: int = 50, clusters: int = 4, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(clusters, dim))
    labels = np.repeat(np.arange(clusters), per_cluster)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


@pytest.fixture(scope="module")
def fitted():
    x, labels = blobs()
    seen: list[float] = []
    view = umap_view(x, CONFIG, progress=lambda fraction: seen.append(fraction) or True)
    return x, labels, view, seen


def test_umap_lays_out_clusters_reports_progress_and_is_seeded(fitted) -> None:
    x, labels, view, seen = fitted
    assert view.points.shape == (len(x), 2) and view.points.dtype == np.float32
    distances = ((view.points[:, None] - view.points[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).mean() > 0.98
    assert seen[0] == 0.0 and NEIGHBOUR_SHARE in seen and seen[-1] == 1.0  # start, epochs begun, end
    np.testing.assert_array_equal(umap_view(x, CONFIG).points, view.points)


def test_stopping_when_the_epochs_begin_raises_cancelled(fitted) -> None:
    x = fitted[0]
    seen: list[float] = []

    def progress(fraction: float) -> bool:
        seen.append(fraction)
        return fraction < NEIGHBOUR_SHARE

    with pytest.raises(EmbeddingCancelled):
        umap_view(x, EmbeddingConfig(neighbours=10, umap_epochs=5000, seed=1), progress=progress)
    assert seen == [0.0, NEIGHBOUR_SHARE]


def test_placing_and_the_approximate_inverse_stay_with_the_neighbours(fitted) -> None:
    x, labels, view, _ = fitted
    placed = view.place(x[[7, 120]])
    for row, point in zip((7, 120), placed):
        closest = np.argsort(((view.points - point) ** 2).sum(axis=1))[:10]
        assert (labels[closest] == labels[row]).all()
    latent = view.approximate_latent(view.points[7])
    assert latent.shape == (1, x.shape[1]) and latent.dtype == np.float32
    same_cluster = labels == labels[7]
    distances = np.linalg.norm(x - latent, axis=1)
    assert same_cluster[distances.argmin()]  # nearer its own cluster's latent vectors than any other's


def test_the_prepared_inverse_is_umaps_inverse_transform_with_the_triangulation_built_once(fitted) -> None:
    """UMAPInverse (umap_inverse.py) reproduces inverse_transform exactly, for one point and for several."""
    from vaestudio.core.latent.umap_inverse import UMAPInverse

    view = fitted[2]
    assert isinstance(view._inverse, UMAPInverse)  # prepared by the job that built the view
    rng = np.random.default_rng(3)
    points = view.points[rng.integers(0, len(view.points), 5)] + rng.normal(scale=0.05, size=(5, 2))
    points = points.astype(np.float32)
    for point in points:
        np.testing.assert_array_equal(view.approximate_latent(point), view._reducer.inverse_transform(point[None]))
    np.testing.assert_array_equal(view.approximate_latent(points), view._reducer.inverse_transform(points))
