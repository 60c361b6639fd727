"""A small exact t-SNE (van der Maaten and Hinton, 2008) for a few thousand points, in numpy.

Exact means every pair of points is used at every step (no Barnes-Hut tree), so time and
memory grow as N^2: about 2,000 points take seconds on a laptop CPU, which is why the
explorer embeds a seeded subsample. The embedding is a view only: it has no inverse, and a
new point cannot be placed in it without running it again.

The recipe follows the reference implementation: per-point Gaussian bandwidths found by
bisection to match the perplexity, symmetrised affinities, early exaggeration (x12) for the
first 250 steps, momentum 0.5 then 0.8, and per-coordinate adaptive gains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vaestudio.core.errors import ConfigError

Progress = Callable[[float], bool]
"""Called with the fraction done; return False to stop early (the embedding so far is returned)."""

EXAGGERATION = 12.0
EXAGGERATION_STEPS = 250
BLOCK_ROWS = 64


@dataclass(frozen=True)
class TSNEConfig:
    perplexity: float = 30.0
    iterations: int = 750
    seed: int = 0

    def validate(self, points: int) -> "TSNEConfig":
        if not 2.0 <= self.perplexity <= 100.0:
            raise ConfigError(f"t-SNE perplexity must be between 2 and 100 (got {self.perplexity}).")
        if self.perplexity * 3 >= points:
            raise ConfigError(f"t-SNE needs more than three times the perplexity in points "
                              f"({points} points, perplexity {self.perplexity}): lower the perplexity.")
        if not 50 <= self.iterations <= 10_000:
            raise ConfigError(f"t-SNE iterations must be between 50 and 10000 (got {self.iterations}).")
        return self


def _squared_distances(x: np.ndarray) -> np.ndarray:
    squares = np.einsum("ij,ij->i", x, x)
    distances = x @ x.T
    distances *= -2.0
    distances += squares[:, None]
    distances += squares[None, :]
    return np.maximum(distances, 0.0, out=distances)


def _gradient(y: np.ndarray, attraction: np.ndarray, block: int = BLOCK_ROWS) -> np.ndarray:
    """The t-SNE gradient 4 * sum_j (A_ij - q_ij) k_ij (y_i - y_j), with k = 1 / (1 + |y_i - y_j|^2).

    Since q = k / Z with Z = sum k, the forces split into an attraction A * k and a repulsion
    k^2 / Z, so one pass over blocks of rows (which stay in the CPU cache) accumulates both
    parts and Z at once; nothing of size N x N is ever held.
    """
    count = len(y)
    first, second = np.ascontiguousarray(y[:, 0]), np.ascontiguousarray(y[:, 1])
    sums = np.empty((2, count), np.float64)       # row sums of attraction and repulsion
    pulls = np.empty((2, count, 2), np.float64)   # the same rows times y
    total = 0.0
    kernel_buffer, scratch_buffer = np.empty((block, count), np.float32), np.empty((block, count), np.float32)
    for start in range(0, count, block):
        stop = min(start + block, count)
        kernel, scratch = kernel_buffer[:stop - start], scratch_buffer[:stop - start]
        np.subtract.outer(first[start:stop], first, out=kernel)
        np.square(kernel, out=kernel)
        np.subtract.outer(second[start:stop], second, out=scratch)
        np.square(scratch, out=scratch)
        kernel += scratch
        kernel += 1.0
        np.reciprocal(kernel, out=kernel)
        kernel[np.arange(stop - start), np.arange(start, stop)] = 0.0
        total += float(kernel.sum(dtype=np.float64))
        for part, forces in enumerate((np.multiply(attraction[start:stop], kernel, out=scratch),
                                       np.multiply(kernel, kernel, out=kernel))):
            sums[part, start:stop] = forces.sum(axis=1)
            pulls[part, start:stop, 0] = forces @ first
            pulls[part, start:stop, 1] = forces @ second
    row_sums = sums[0] - sums[1] / total
    pulled = pulls[0] - pulls[1] / total
    return (4.0 * (row_sums[:, None] * y - pulled)).astype(np.float32)


def joint_probabilities(x: np.ndarray, perplexity: float, tolerance: float = 1e-5, steps: int = 100) -> np.ndarray:
    """Symmetric affinities P (N, N) whose rows each have the given perplexity before symmetrising."""
    distances = _squared_distances(np.asarray(x, dtype=np.float64))
    count = distances.shape[0]
    np.fill_diagonal(distances, np.inf)
    # Subtract each row's smallest distance so exp() cannot underflow to an all-zero row.
    distances -= distances.min(axis=1, keepdims=True)
    target = np.log(perplexity)
    beta = np.ones(count)
    low = np.zeros(count)
    high = np.full(count, np.inf)
    for _ in range(steps):
        weights = np.exp(-distances * beta[:, None])
        total = weights.sum(axis=1)
        probabilities = weights / total[:, None]
        np.fill_diagonal(distances, 0.0)
        entropy = np.log(total) + beta * (probabilities * distances).sum(axis=1)
        np.fill_diagonal(distances, np.inf)
        error = entropy - target
        if np.abs(error).max() < tolerance:
            break
        too_flat = error > 0  # entropy too high: narrow the Gaussian (raise beta)
        low = np.where(too_flat, beta, low)
        high = np.where(too_flat, high, beta)
        beta = np.where(np.isinf(high), beta * 2.0, (low + high) / 2.0)
    joint = (probabilities + probabilities.T) / (2.0 * count)
    return np.maximum(joint, 1e-12)


def tsne(x: np.ndarray, config: TSNEConfig = TSNEConfig(), init: np.ndarray | None = None,
         progress: Progress | None = None) -> np.ndarray:
    """Embed points (N, D) in 2-D; returns float32 (N, 2), centred.

    With `init` (a previous embedding of the same points), early exaggeration is skipped and
    the layout is refined from there, so successive embeddings of a changing model stay put.
    """
    x = np.asarray(x, dtype=np.float64)
    count = x.shape[0]
    config.validate(count)
    p = joint_probabilities(x, config.perplexity).astype(np.float32)
    if init is None:
        y = (np.random.default_rng(config.seed).standard_normal((count, 2)) * 1e-4).astype(np.float32)
        exaggeration_steps = EXAGGERATION_STEPS
    else:
        y = np.array(init, dtype=np.float32)
        exaggeration_steps = 0
    learning_rate = np.float32(max(count / EXAGGERATION / 4.0, 50.0))
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    attraction = p * np.float32(EXAGGERATION) if exaggeration_steps else p
    for step in range(config.iterations):
        if step == exaggeration_steps:
            attraction = p
        momentum = np.float32(0.5 if step < exaggeration_steps else 0.8)
        gradient = _gradient(y, attraction)
        same_sign = (gradient > 0) == (velocity > 0)
        gains = np.maximum(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01).astype(np.float32)
        velocity = momentum * velocity - learning_rate * gains * gradient
        y = y + velocity
        y -= y.mean(axis=0)
        if progress is not None and step % 10 == 9 and progress((step + 1) / config.iterations) is False:
            break
    return y.astype(np.float32)


def subsample_indices(total: int, count: int, seed: int) -> np.ndarray:
    """A seeded choice of `count` of `total` indices, in increasing order (all of them if fewer)."""
    if count >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))
