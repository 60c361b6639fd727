"""Latent geometry: projections and their inverses, paths, grids, prior samples, decoded grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaestudio.core.latent.embeddings import EmbeddingConfig
from vaestudio.core.latent.space import (
    DimensionProjection,
    PCAProjection,
    build_map,
    decode_grid,
    decode_latents,
    encode_images,
    grid_points,
    interpolate,
    layout_map,
    make_plane,
    nearest_point,
    sample_prior,
    slerp,
    tile_images,
)
from vaestudio.core.models.networks import ModelConfig, build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig("mlp", latent_dim=5, hidden=32)).eval()


def _correlated_latents(count: int = 400, dim: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)).astype(np.float32)


def test_pca_round_trip_from_map_and_back() -> None:
    mu = _correlated_latents()
    pca = PCAProjection(mu)
    points = np.array([[0.0, 0.0], [1.5, -2.0], [-3.0, 0.25]], np.float32)
    latents = pca.to_latent(points)
    assert latents.shape == (3, mu.shape[1])
    np.testing.assert_allclose(pca.to_map(latents), points, atol=1e-5)
    np.testing.assert_allclose(latents[0], mu.mean(axis=0), atol=1e-5)


def test_pca_axes_are_orthonormal_and_ordered_by_variance() -> None:
    mu = _correlated_latents()
    pca = PCAProjection(mu)
    np.testing.assert_allclose(pca.axes @ pca.axes.T, np.eye(2), atol=1e-9)
    coordinates = pca.to_map(mu)
    assert coordinates[:, 0].var() >= coordinates[:, 1].var()
    assert 0 < pca.explained[1] <= pca.explained[0] <= 1
    # Any direction in the latent space carries no more variance than the first component.
    random_direction = np.random.default_rng(1).normal(size=mu.shape[1])
    random_direction /= np.linalg.norm(random_direction)
    assert (mu @ random_direction).var() <= coordinates[:, 0].var() * (1 + 1e-6)


def test_pca_sign_convention_is_stable_under_sign_flips_of_the_data() -> None:
    mu = _correlated_latents()
    first, second = PCAProjection(mu), PCAProjection(mu[::-1].copy())
    np.testing.assert_allclose(first.axes, second.axes, atol=1e-6)


def test_dimension_projection_round_trip() -> None:
    projection = DimensionProjection(6, 4, 1)
    z = _correlated_latents(10)
    points = projection.to_map(z)
    np.testing.assert_array_equal(points, z[:, [4, 1]])
    back = projection.to_latent(points)
    np.testing.assert_allclose(back[:, [4, 1]], z[:, [4, 1]])
    assert np.all(back[:, [0, 2, 3, 5]] == 0)


def test_dimension_projection_keeps_a_chosen_origin_and_rejects_bad_dimensions() -> None:
    origin = np.array([0.0, 1.0, 2.0, 0.0], np.float32)
    projection = DimensionProjection(4, 0, 3, origin=origin)
    back = projection.to_latent(np.array([[9.0, -9.0]]))
    np.testing.assert_allclose(back[0], [9.0, 1.0, 2.0, -9.0])
    np.testing.assert_allclose(projection.to_map(back), [[9.0, -9.0]])
    with pytest.raises(ValueError):
        DimensionProjection(4, 2, 2)
    with pytest.raises(ValueError):
        DimensionProjection(4, 0, 4)


def test_slerp_endpoints_and_norm() -> None:
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    path = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    # Halfway between orthogonal vectors: sin(45 deg) * (a + b) / sin(90 deg).
    np.testing.assert_allclose(path[2], (a + b) / np.sqrt(2), atol=1e-6)


def test_slerp_of_parallel_vectors_falls_back_to_linear() -> None:
    a = np.array([1.0, 1.0])
    np.testing.assert_allclose(slerp(a, 3 * a, np.array([0.5])), [[2.0, 2.0]], atol=1e-6)


def test_interpolate_linear_and_errors() -> None:
    path = interpolate(np.zeros(3), np.ones(3), 5)
    np.testing.assert_allclose(path[:, 0], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(interpolate(np.zeros(2), np.ones(2), 3, "slerp")[[0, -1]], [[0, 0], [1, 1]], atol=1e-6)
    with pytest.raises(ValueError):
        interpolate(np.zeros(3), np.ones(3), 1)
    with pytest.raises(ValueError):
        interpolate(np.zeros(3), np.ones(3), 4, "cubic")


def test_grid_points_order_is_rows_from_the_top_left() -> None:
    points = grid_points(2, 3, 1.0)
    expected = [[-1, 1], [0, 1], [1, 1], [-1, -1], [0, -1], [1, -1]]
    np.testing.assert_allclose(points, expected)


def test_sample_prior_is_deterministic_per_seed() -> None:
    first, again, other = sample_prior(4, 3, 7), sample_prior(4, 3, 7), sample_prior(4, 3, 8)
    assert first.shape == (4, 3)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_tile_images_places_each_image_in_reading_order() -> None:
    images = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 2, 2), np.float32)
    picture = tile_images(images, 2, 3)
    assert picture.shape == (4, 6)
    np.testing.assert_array_equal(picture[::2, ::2], [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(ValueError):
        tile_images(images, 2, 2)


def test_decode_grid_tiles_are_the_decoder_at_the_grid_points(model) -> None:
    projection = DimensionProjection(5, 1, 3)
    picture = decode_grid(model, projection, 3, 4, 2.0)
    assert picture.shape == (3 * 28, 4 * 28)
    latents = projection.to_latent(grid_points(3, 4, 2.0))
    np.testing.assert_allclose(picture[:28, :28], decode_latents(model, latents[0])[0], atol=1e-6)
    np.testing.assert_allclose(picture[56:, 84:], decode_latents(model, latents[-1])[0], atol=1e-6)


def test_encode_images_returns_means_and_labels(model) -> None:
    images = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30) % 3
    encoded = encode_images(model, images, labels, batch_size=7)
    assert encoded.mu.shape == encoded.logvar.shape == (30, 5)
    np.testing.assert_array_equal(encoded.labels, labels.numpy())
    mu, _ = model.encode(images.reshape(30, -1).float() / 255)
    np.testing.assert_allclose(encoded.mu, mu.detach().numpy(), atol=1e-5)


def test_nearest_point_in_scaled_units() -> None:
    points = np.array([[0.0, 0.0], [10.0, 1.0], [1.0, 10.0]])
    assert nearest_point(points, np.array([9.0, 2.0]))[0] == 1
    # With x counted 100 times smaller, the point straight above is nearer.
    index, distance = nearest_point(points, np.array([2.0, 9.0]), scale=np.array([100.0, 1.0]))
    assert index == 2 and distance == pytest.approx(np.hypot(0.01, 1.0))
    assert nearest_point(np.zeros((0, 2)), np.zeros(2)) == (-1, float("inf"))


def test_make_plane_for_each_projection_kind() -> None:
    mu = _correlated_latents(dim=5)
    assert isinstance(make_plane("pca", 5, mu), PCAProjection)
    assert make_plane("pca", 5).dimensions == (0, 1)  # no means yet: z1, z2
    assert make_plane("dimensions", 5, mu, 3, 1).dimensions == (3, 1)
    assert make_plane("latent", 2).dimensions == (0, 1)


def test_layout_map_on_a_plane_and_by_tsne() -> None:
    mu = _correlated_latents(count=120, dim=5)
    plane_layout = layout_map(mu, "dimensions", 4, 2)
    np.testing.assert_array_equal(plane_layout.rows, np.arange(120))
    np.testing.assert_allclose(plane_layout.points, mu[:, [4, 2]])
    assert plane_layout.view is None
    tsne_layout = layout_map(mu[:40], "tsne", view_config=EmbeddingConfig(perplexity=30, iterations=60, seed=2))
    assert tsne_layout.projection is None and tsne_layout.view.kind == "tsne"
    np.testing.assert_array_equal(tsne_layout.rows, np.arange(40))  # every point, no subsample
    np.testing.assert_array_equal(tsne_layout.points, tsne_layout.view.points)
    # 40 points cannot carry perplexity 30; it is lowered rather than refused.
    assert tsne_layout.points.shape == (40, 2) and np.all(np.isfinite(tsne_layout.points))


def test_build_map_encodes_the_chosen_images_and_keeps_labels_aligned(model) -> None:
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = np.arange(50) % 7
    indices = np.arange(3, 50, 2)
    data = build_map(model, images, labels, indices, "pca")
    np.testing.assert_allclose(data.mu, encode_images(model, torch.from_numpy(images[indices])).mu, atol=1e-6)
    np.testing.assert_array_equal(data.labels, labels[indices])
    view = build_map(None, images, labels, indices, "tsne", mu=data.mu,
                     view_config=EmbeddingConfig(perplexity=5, iterations=50, seed=0))
    assert view.layout.points.shape == (len(indices), 2)
    np.testing.assert_array_equal(view.labels, labels[indices])


def test_posterior_outline_is_the_projected_ellipse():
    from vaestudio.core.latent.space import DimensionProjection, posterior_outline

    projection = DimensionProjection(4, 1, 3)
    mu = np.array([9.0, 1.0, 9.0, -2.0])
    logvar = np.log(np.array([5.0, 0.25, 5.0, 1.0]))
    centre, outline = posterior_outline(projection, mu, logvar, stds=2.0, points=33)
    assert np.allclose(centre, [1.0, -2.0])
    # Dimension 1 has std 0.5 and dimension 3 std 1: the 2-std ellipse reaches 1 and 2 from the centre.
    offsets = outline - centre
    assert np.allclose(np.abs(offsets[:, 0]).max(), 1.0, atol=1e-3)
    assert np.allclose(np.abs(offsets[:, 1]).max(), 2.0, atol=1e-2)
    assert np.allclose((offsets[:, 0] / 1.0) ** 2 + (offsets[:, 1] / 2.0) ** 2, 1.0, atol=1e-4)
