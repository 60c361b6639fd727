"""The small exact t-SNE: affinities, cluster separation, determinism, refinement, stopping."""

from __future__ import annotations

import numpy as np
import pytest

from vaestudio.core.errors import ConfigError
from vaestudio.core.latent.tsne import (
    TSNEConfig,
    joint_probabilities,
    subsample_indices,
    tsne,
)


def _blobs(per_cluster: int = 40, clusters: int = 4, dim: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(clusters, dim))
    labels = np.repeat(np.arange(clusters), per_cluster)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


def test_joint_probabilities_are_a_symmetric_distribution() -> None:
    x, labels = _blobs()
    joint = joint_probabilities(x, perplexity=10.0)
    assert joint.sum() == pytest.approx(1.0, rel=1e-6)
    assert np.abs(joint - joint.T).max() < 1e-12
    # Neighbours in the same cluster carry almost all of the affinity.
    same = np.equal.outer(labels, labels)
    assert joint[same].sum() > 0.99


def test_embedding_separates_clusters_and_is_deterministic() -> None:
    x, labels = _blobs()
    config = TSNEConfig(perplexity=10.0, iterations=500, seed=3)
    embedding = tsne(x, config)
    assert embedding.shape == (len(x), 2) and embedding.dtype == np.float32
    np.testing.assert_allclose(embedding.mean(axis=0), 0.0, atol=1e-3)
    distances = ((embedding[:, None] - embedding[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).mean() == 1.0
    np.testing.assert_array_equal(tsne(x, config), embedding)
    assert not np.allclose(tsne(x, TSNEConfig(10.0, 500, seed=4)), embedding)


def test_refining_from_a_previous_embedding_stays_near_it() -> None:
    x, _ = _blobs()
    config = TSNEConfig(perplexity=10.0, iterations=500, seed=0)
    first = tsne(x, config)
    moved = x + np.random.default_rng(5).normal(scale=0.05, size=x.shape)
    refined = tsne(moved, TSNEConfig(10.0, 50, 0), init=first)
    spread = np.abs(first).max()
    assert np.abs(refined - first).max() < 0.1 * spread


def test_progress_reports_and_can_stop_early() -> None:
    x, _ = _blobs()
    seen: list[float] = []

    def progress(fraction: float) -> bool:
        seen.append(fraction)
        return fraction < 0.2

    embedding = tsne(x, TSNEConfig(10.0, 500, 0), progress=progress)
    assert embedding.shape == (len(x), 2)
    assert seen[0] == pytest.approx(0.02) and seen[-1] == pytest.approx(0.2)


def test_bad_settings_raise_config_errors() -> None:
    x, _ = _blobs(per_cluster=5)
    with pytest.raises(ConfigError, match="perplexity"):
        tsne(x, TSNEConfig(perplexity=30.0))
    with pytest.raises(ConfigError, match="iterations"):
        tsne(x, TSNEConfig(perplexity=2.0, iterations=10))


def test_subsample_indices_are_seeded_sorted_and_unique() -> None:
    picked = subsample_indices(1000, 50, seed=1)
    assert len(set(picked.tolist())) == 50 and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, subsample_indices(1000, 50, seed=1))
    np.testing.assert_array_equal(subsample_indices(10, 50, seed=1), np.arange(10))
