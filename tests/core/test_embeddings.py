"""The t-SNE view (openTSNE): layout, determinism, placing new points, refining, progress and stopping;
UMAP when umap-learn is absent (the real UMAP is tested in test_umap_view.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vaestudio.core.errors import ConfigError
from vaestudio.core.latent.embeddings import (
    NEIGHBOUR_SHARE,
    EmbeddingCancelled,
    EmbeddingConfig,
    MissingPackageError,
    embed,
    require_umap,
    tsne_view,
    umap_installed,
    umap_view,
)
from vaestudio.core.latent.space import subsample_indices

FAST = EmbeddingConfig(perplexity=10.0, iterations=90, seed=3)


def blobs(per_cluster: int = 60, clusters: int = 4, dim: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(clusters, dim))
    labels = np.repeat(np.arange(clusters), per_cluster)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def nearest_labels(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    distances = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    return labels[distances.argmin(axis=1)]


@pytest.fixture(scope="module")
def fitted():
    x, labels = blobs()
    return x, labels, tsne_view(x, FAST)


def test_tsne_separates_clusters_and_is_deterministic_with_a_seed(fitted) -> None:
    x, labels, view = fitted
    assert view.points.shape == (len(x), 2) and view.points.dtype == np.float32
    assert (nearest_labels(view.points, labels) == labels).mean() > 0.98
    np.testing.assert_array_equal(tsne_view(x, FAST).points, view.points)
    # centred on its bounding box, the frame openTSNE's transform uses
    np.testing.assert_allclose(view.points.max(axis=0) + view.points.min(axis=0), 0.0, atol=1e-4)


def test_a_new_point_lands_near_its_neighbours(fitted) -> None:
    x, labels, view = fitted
    rng = np.random.default_rng(1)
    rows = np.array([5, 70, 130, 200])
    placed = view.place(x[rows] + rng.normal(scale=0.05, size=(len(rows), x.shape[1])))
    assert placed.shape == (len(rows), 2)
    spread = view.points.std()
    for row, point in zip(rows, placed):
        assert np.linalg.norm(point - view.points[row]) < 0.25 * spread
        closest = np.argsort(((view.points - point) ** 2).sum(axis=1))[:10]
        assert (labels[closest] == labels[row]).all()
    np.testing.assert_array_equal(view.place(x[5]), view.place(x[5][None]))  # one vector or a batch


def test_refining_from_a_previous_view_stays_near_it(fitted) -> None:
    x, _, view = fitted
    moved = x + np.random.default_rng(5).normal(scale=0.05, size=x.shape).astype(np.float32)
    refined = tsne_view(moved, FAST, init=view.points)
    assert np.median(np.linalg.norm(refined.points - view.points, axis=1)) < 0.2 * view.points.std()


def test_progress_is_reported_from_zero_to_one() -> None:
    x, _ = blobs(per_cluster=30)
    seen: list[float] = []
    tsne_view(x, FAST, progress=lambda fraction: seen.append(fraction) or True)
    assert seen[0] == 0.0 and seen[1] == NEIGHBOUR_SHARE and seen[-1] == pytest.approx(1.0)
    assert len(seen) >= 2 + FAST.iterations // 10 and np.all(np.diff(seen) >= 0)


def test_a_progress_answer_of_false_stops_the_tsne() -> None:
    x, _ = blobs(per_cluster=30)
    seen: list[float] = []

    def progress(fraction: float) -> bool:
        seen.append(fraction)
        return fraction <= NEIGHBOUR_SHARE  # stop at the first report of the optimisation

    with pytest.raises(EmbeddingCancelled):
        tsne_view(x, EmbeddingConfig(perplexity=10.0, iterations=3000), progress=progress)
    assert len(seen) == 3 and seen[-1] < 0.01 + NEIGHBOUR_SHARE  # 10 of 3,000 iterations, then stopped


def test_few_points_lower_the_perplexity_and_bad_settings_are_refused() -> None:
    x, _ = blobs(per_cluster=5)
    assert embed("tsne", x, EmbeddingConfig(perplexity=30.0, iterations=60)).points.shape == (20, 2)
    with pytest.raises(ConfigError, match="perplexity"):
        tsne_view(x, EmbeddingConfig(perplexity=500.0))
    with pytest.raises(ConfigError, match="iterations"):
        tsne_view(x, EmbeddingConfig(iterations=10))
    with pytest.raises(ConfigError, match="at least 10"):
        tsne_view(x[:6], FAST)
    with pytest.raises(ConfigError, match="Unknown map view"):
        embed("isomap", x, FAST)


def test_without_umap_learn_the_umap_view_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # what an environment without umap-learn looks like
    assert not umap_installed()
    with pytest.raises(MissingPackageError, match=r"pip install 'vaestudio\[umap\]'"):
        require_umap()
    x, _ = blobs(per_cluster=5)
    with pytest.raises(MissingPackageError, match="umap-learn"):
        embed("umap", x, FAST)
    with pytest.raises(MissingPackageError):
        umap_view(x, FAST)


def test_subsample_indices_are_seeded_sorted_and_unique() -> None:
    picked = subsample_indices(1000, 50, seed=1)
    assert len(set(picked.tolist())) == 50 and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, subsample_indices(1000, 50, seed=1))
    np.testing.assert_array_equal(subsample_indices(10, 50, seed=1), np.arange(10))
