"""Qt-free helpers for the explorer's reconstruction and sketch panels.

- `score_images`: the posterior of every image of a split and its per-image loss, in one
  pass (the reconstruction panel sorts by it: the worst reconstructions are the
  interesting ones);
- `nearest_images`: nearest neighbours of a latent vector among encoded means;
- `drawing_to_image`: a drawing (any resolution, ink in [0, 1]) as a 28x28 uint8 image,
  either plainly averaged down or normalised as the MNIST digits were (ink fitted into a
  20x20 box, then moved so its centre of mass sits at the centre of the 28x28 field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vaestudio.core.models.networks import IMAGE_SIZE, VAE
from vaestudio.core.training.evaluation import to_pixels
from vaestudio.core.training.objectives import (
    kl_per_dimension,
    reconstruction_per_image,
)

MNIST_BOX = 20        # MNIST digits were size-normalised to fit a 20x20 box ...
INK_THRESHOLD = 0.05  # ... of the pixels with at least this much ink


class ScoringCancelled(Exception):
    """Raised by `score_images` when its `cancelled` callback answers True between batches."""


@dataclass
class ImageScores:
    """Per-image posterior and loss terms (nats) of a split; the reconstruction decodes the posterior mean."""

    mu: np.ndarray              # (N, D) float32
    logvar: np.ndarray          # (N, D) float32
    reconstruction: np.ndarray  # (N,) float32: Bernoulli NLL of the image under decode(mu)
    kl: np.ndarray              # (N,) float32: KL(q(z|x) || N(0, I))

    @property
    def loss(self) -> np.ndarray:
        """Reconstruction + KL per image: the negative ELBO with z at the posterior mean."""
        return self.reconstruction + self.kl


@torch.no_grad()
def score_images(model: VAE, images: torch.Tensor, batch_size: int = 1000,
                 cancelled: Callable[[], bool] | None = None) -> ImageScores:
    """Encode uint8 images (N, H, W[, 3]) and score their deterministic reconstructions.

    The loss decodes the posterior mean (not a sample), so it is the loss of exactly the
    reconstruction `latent.reconstruct_images` shows, and the same model gives the same
    order every time.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mus, logvars, reconstructions, kls = [], [], [], []
    try:
        for start in range(0, images.shape[0], batch_size):
            if cancelled is not None and cancelled():
                raise ScoringCancelled()
            x = to_pixels(images[start:start + batch_size].to(device))
            mu, logvar = model.encode(x)
            reconstructions.append(reconstruction_per_image(model.decode_logits(mu), x).float().cpu())
            kls.append(kl_per_dimension(mu, logvar).sum(dim=1).float().cpu())
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
    finally:
        model.train(was_training)
    if not mus:
        empty = np.zeros((0, model.latent_dim), np.float32)
        return ImageScores(empty, empty.copy(), np.zeros(0, np.float32), np.zeros(0, np.float32))
    return ImageScores(torch.cat(mus).numpy(), torch.cat(logvars).numpy(), torch.cat(reconstructions).numpy(),
                       torch.cat(kls).numpy())


def nearest_images(mu: np.ndarray, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `count` rows of `mu` (N, D) nearest to `query` (D,), nearest first, and their distances."""
    mu = np.asarray(mu, dtype=np.float32)
    count = min(count, mu.shape[0])
    if count <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    offsets = mu - np.asarray(query, dtype=np.float32).reshape(1, -1)
    squared = np.einsum("ij,ij->i", offsets, offsets)
    nearest = np.argpartition(squared, count - 1)[:count] if count < mu.shape[0] else np.arange(mu.shape[0])
    nearest = nearest[np.argsort(squared[nearest], kind="stable")]
    return nearest.astype(np.int64), np.sqrt(squared[nearest]).astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def average_down(ink: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Ink (H, W) in [0, 1], H and W multiples of `size`, averaged down to (size, size) uint8."""
    ink = np.asarray(ink, dtype=np.float32)
    height, width = ink.shape
    if height % size or width % size:
        raise ValueError(f"a {height}x{width} drawing does not divide into {size}x{size} blocks")
    blocks = ink.reshape(size, height // size, size, width // size).mean(axis=(1, 3))
    return _to_uint8(blocks)


def normalise_like_mnist(ink: np.ndarray, size: int = IMAGE_SIZE, box: int = MNIST_BOX) -> np.ndarray:
    """Ink (H, W) in [0, 1] as MNIST prepared its digits: fitted into a box x box square keeping its
    aspect ratio (anti-aliased), centred by its centre of mass in a size x size image; uint8."""
    ink = np.asarray(ink, dtype=np.float32)
    rows = np.flatnonzero(ink.max(axis=1) > INK_THRESHOLD)
    columns = np.flatnonzero(ink.max(axis=0) > INK_THRESHOLD)
    if rows.size == 0:
        return np.zeros((size, size), np.uint8)
    crop = ink[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    scale = box / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    tensor = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
    mode = "area" if scale < 1 else "bilinear"
    resized = F.interpolate(tensor, size=(height, width), mode=mode, **({} if mode == "area" else
                                                                         {"align_corners": False}))[0, 0].numpy()
    canvas = np.zeros((size, size), np.float32)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[top:top + height, left:left + width] = np.clip(resized, 0.0, 1.0)
    total = canvas.sum()
    centre = (size - 1) / 2
    row_mass = (canvas.sum(axis=1) * np.arange(size)).sum() / total
    column_mass = (canvas.sum(axis=0) * np.arange(size)).sum() / total
    shift_rows = int(np.clip(round(centre - row_mass), -top, size - top - height))
    shift_columns = int(np.clip(round(centre - column_mass), -left, size - left - width))
    canvas = np.roll(canvas, (shift_rows, shift_columns), axis=(0, 1))
    return _to_uint8(canvas)


def drawing_to_image(ink: np.ndarray, like_mnist: bool, size: int = IMAGE_SIZE) -> np.ndarray:
    """A drawing as the uint8 (size, size) image the encoder sees (the MNIST box scaled with the size)."""
    return normalise_like_mnist(ink, size, round(MNIST_BOX * size / IMAGE_SIZE)) if like_mnist else \
        average_down(ink, size)


def colour_drawing_to_image(picture: np.ndarray, size: int) -> np.ndarray:
    """A colour drawing (H, W, 3) in [0, 1], H and W multiples of `size`, averaged down to uint8 (size, size, 3)."""
    picture = np.asarray(picture, dtype=np.float32)
    height, width, channels = picture.shape
    if height % size or width % size:
        raise ValueError(f"a {height}x{width} drawing does not divide into {size}x{size} blocks")
    blocks = picture.reshape(size, height // size, size, width // size, channels).mean(axis=(1, 3))
    return _to_uint8(blocks)
