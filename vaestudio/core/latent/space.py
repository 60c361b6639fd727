"""Latent geometry: encoding a dataset, planes through the latent space, paths and grids.

A `Projection` maps latent vectors (N, D) to 2-D map coordinates and, where it can,
back again: choosing two dimensions and PCA are invertible (a clicked map point becomes a
full latent vector); t-SNE and UMAP are views (see `embeddings`), handled by the explorer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaestudio.core.latent.embeddings import (
    EMBEDDINGS,
    EmbeddingConfig,
    MapView,
    Progress,
    embed,
)
from vaestudio.core.models.networks import VAE
from vaestudio.core.training.evaluation import to_pixels


@dataclass
class EncodedSet:
    """Posterior parameters of every image of a dataset split, as numpy arrays."""

    mu: np.ndarray       # (N, D) float32
    logvar: np.ndarray   # (N, D) float32
    labels: np.ndarray   # (N,) int64


@torch.no_grad()
def encode_images(model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None,
                  batch_size: int = 2000) -> EncodedSet:
    """Posterior means and log-variances of uint8 images (N, H, W[, 3]), computed on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mus, logvars = [], []
    for start in range(0, images.shape[0], batch_size):
        mu, logvar = model.encode(to_pixels(images[start:start + batch_size].to(device)))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    model.train(was_training)
    empty = torch.zeros(0, model.latent_dim)
    label_array = labels.cpu().numpy().astype(np.int64) if labels is not None else np.zeros(images.shape[0], np.int64)
    return EncodedSet(torch.cat(mus or [empty]).numpy(), torch.cat(logvars or [empty]).numpy(), label_array)


@torch.no_grad()
def decode_latents(model: VAE, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """Decoded pixel means in [0, 1] as float32 pictures: (N, H, W) grayscale or (N, H, W, 3) colour."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    tensor = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, model.latent_dim).to(device)
    images = model.decode(tensor).reshape(-1, *model.config.image_shape).float().cpu().numpy()
    model.train(was_training)
    return images


@torch.no_grad()
def reconstruct_images(model: VAE, images: torch.Tensor) -> np.ndarray:
    """Decoded posterior means of uint8 images (the deterministic reconstruction), pictures in [0, 1]."""
    return decode_latents(model, encode_images(model, images).mu)


class Projection:
    """A linear plane through the latent space: z = origin + u * axis_u + v * axis_v."""

    name = "plane"

    def __init__(self, origin: np.ndarray, axes: np.ndarray) -> None:
        self.origin = np.asarray(origin, dtype=np.float64)
        self.axes = np.asarray(axes, dtype=np.float64)  # (2, D), orthonormal rows

    def to_map(self, z: np.ndarray) -> np.ndarray:
        """Latent vectors (N, D) to map coordinates (N, 2)."""
        return ((np.asarray(z, dtype=np.float64) - self.origin) @ self.axes.T).astype(np.float32)

    def to_latent(self, points: np.ndarray) -> np.ndarray:
        """Map coordinates (N, 2) back to latent vectors (N, D) on the plane."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (self.origin + points @ self.axes).astype(np.float32)


class DimensionProjection(Projection):
    """Two chosen latent dimensions; every other coordinate held at `origin` (zero by default)."""

    name = "dimensions"

    def __init__(self, latent_dim: int, first: int = 0, second: int = 1, origin: np.ndarray | None = None) -> None:
        if not (0 <= first < latent_dim and 0 <= second < latent_dim) or first == second:
            raise ValueError(f"choose two different dimensions between 0 and {latent_dim - 1}")
        axes = np.zeros((2, latent_dim))
        axes[0, first] = axes[1, second] = 1.0
        super().__init__(np.zeros(latent_dim) if origin is None else origin, axes)
        self.dimensions = (first, second)


class PCAProjection(Projection):
    """The plane of the two principal components of the encoded means, through their mean."""

    name = "pca"

    def __init__(self, mu: np.ndarray) -> None:
        mu = np.asarray(mu, dtype=np.float64)
        mean = mu.mean(axis=0)
        _, singular, vt = np.linalg.svd(mu - mean, full_matrices=False)
        axes = vt[:2]
        # A fixed sign convention so the map does not flip between epochs without reason.
        signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
        super().__init__(mean, axes * signs[:, None])
        variance = singular ** 2
        self.explained = (variance[:2] / variance.sum()).tolist() if variance.sum() > 0 else [0.0, 0.0]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between latent vectors a and b at fractions t (falls back to linear when parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """`steps` latent vectors from a to b inclusive, linear or spherical ('slerp')."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    t = np.linspace(0.0, 1.0, steps)
    if method == "slerp":
        return slerp(a, b, t)
    if method != "linear":
        raise ValueError(f"unknown interpolation {method!r}: use linear or slerp")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return ((1 - t[:, None]) * a + t[:, None] * b).astype(np.float32)


def grid_points(rows: int, cols: int, extent: float) -> np.ndarray:
    """Map coordinates of a rows x cols grid over [-extent, extent]^2, top row first (v decreasing)."""
    u = np.linspace(-extent, extent, cols)
    v = np.linspace(extent, -extent, rows)
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu.ravel(), vv.ravel()], axis=1).astype(np.float32)


def sample_prior(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """Seeded draws from N(0, I) (same seed, same draws, on every platform)."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(count, latent_dim, generator=generator).numpy()


def tile_images(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Images (rows * cols, H, W[, 3]), first row first, laid out as one (rows * H, cols * W[, 3]) picture."""
    images = np.asarray(images)
    if images.shape[0] != rows * cols:
        raise ValueError(f"{images.shape[0]} images do not fill a {rows} x {cols} grid")
    height, width, colours = images.shape[1], images.shape[2], images.shape[3:]
    grid = images.reshape(rows, cols, height, width, *colours).swapaxes(1, 2)
    return grid.reshape(rows * height, cols * width, *colours)


def decode_grid(model: VAE, projection: Projection, rows: int, cols: int, extent: float) -> np.ndarray:
    """The decoded images of a rows x cols grid over [-extent, extent]^2 of a plane, as one picture.

    The top-left tile is decoded at map point (-extent, +extent) (see `grid_points`); plane
    axes are orthonormal, so `extent` is in prior standard deviations.
    """
    latents = projection.to_latent(grid_points(rows, cols, extent))
    return tile_images(decode_latents(model, latents), rows, cols)


def nearest_point(points: np.ndarray, target: np.ndarray, scale: np.ndarray | None = None) -> tuple[int, float]:
    """Index of the row of `points` (N, 2) nearest to `target` (2,) and its distance.

    `scale` divides each coordinate first (e.g. data units per screen pixel, so the distance
    is in pixels). Returns (-1, inf) when there are no points.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] == 0:
        return -1, float("inf")
    offsets = points - np.asarray(target, dtype=np.float64)
    if scale is not None:
        offsets /= np.asarray(scale, dtype=np.float64)
    squared = np.einsum("ij,ij->i", offsets, offsets)
    index = int(squared.argmin())
    return index, float(np.sqrt(squared[index]))


def make_plane(kind: str, latent_dim: int, mu: np.ndarray | None = None, first: int = 0, second: int = 1) -> Projection:
    """The invertible plane of a projection kind: 'pca' of the means `mu` (z1, z2 while there are
    none), 'dimensions' `first` and `second`, or 'latent' (z1, z2, the whole latent of a 2-d model)."""
    if kind == "pca" and mu is not None and len(mu) > 2:
        return PCAProjection(mu)
    if kind == "dimensions":
        return DimensionProjection(latent_dim, first, second)
    return DimensionProjection(latent_dim, 0, 1)


@dataclass
class MapLayout:
    """Where encoded means go on a 2-D map."""

    projection: Projection | None  # the plane, or None for a view (t-SNE, UMAP), which has no exact inverse
    rows: np.ndarray               # (M,) rows of the means that are placed (all of them)
    points: np.ndarray             # (M, 2) their map coordinates
    view: MapView | None = None    # the t-SNE or UMAP view, which places new latent vectors


def layout_map(mu: np.ndarray, kind: str, first: int = 0, second: int = 1,
               view_config: EmbeddingConfig | None = None, init: np.ndarray | None = None,
               progress: Progress | None = None) -> MapLayout:
    """Place means (N, D) on a map: on a plane (see `make_plane`) or in a t-SNE or UMAP view of all of them.

    `init` (a previous view of the same means) refines that view rather than starting again;
    `progress` reports the fraction done and stops a view when it answers False (see `embeddings`).
    """
    if kind not in EMBEDDINGS:
        plane = make_plane(kind, mu.shape[1], mu, first, second)
        return MapLayout(plane, np.arange(len(mu)), plane.to_map(mu))
    view = embed(kind, mu, view_config or EmbeddingConfig(), init, progress)
    return MapLayout(None, np.arange(len(mu)), view.points, view)


@dataclass
class LatentMapData:
    """The encoded and laid-out points of a latent map."""

    indices: np.ndarray  # (N,) indices into the dataset of the encoded images
    mu: np.ndarray       # (N, D) their posterior means
    layout: MapLayout    # which rows of `mu` are placed where
    labels: np.ndarray   # (M,) labels of the placed rows


def build_map(model: VAE | None, images: np.ndarray, labels: np.ndarray, indices: np.ndarray, kind: str, *,
              mu: np.ndarray | None = None, first: int = 0, second: int = 1,
              view_config: EmbeddingConfig | None = None, init: np.ndarray | None = None,
              progress: Progress | None = None) -> LatentMapData:
    """Encode uint8 `images[indices]` with `model` (or take their means `mu`) and lay them out (see `layout_map`)."""
    if mu is None:
        mu = encode_images(model, torch.from_numpy(np.ascontiguousarray(images[indices]))).mu
    layout = layout_map(mu, kind, first, second, view_config, init, progress)
    return LatentMapData(np.asarray(indices), mu, layout, np.asarray(labels)[indices][layout.rows])


def subsample_indices(total: int, count: int, seed: int) -> np.ndarray:
    """A seeded choice of `count` of `total` indices, in increasing order (all of them if fewer)."""
    if count >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))


def posterior_outline(projection: Projection, mu: np.ndarray, logvar: np.ndarray, stds: float = 2.0,
                      points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Map position (2,) of a posterior N(mu, diag(exp(logvar))) and the outline (points, 2) of its
    `stds`-standard-deviation ellipse in the projection's plane (the plane's 2x2 covariance)."""
    centre = projection.to_map(np.asarray(mu).reshape(1, -1))[0].astype(np.float64)
    variance = np.exp(np.asarray(logvar, dtype=np.float64).reshape(-1))
    covariance = (projection.axes * variance) @ projection.axes.T
    root = np.linalg.cholesky(covariance + 1e-12 * np.eye(2))
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return centre.astype(np.float32), (centre[:, None] + stds * root @ circle).T.astype(np.float32)
