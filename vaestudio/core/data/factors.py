"""Known generating factors of a dataset's images (shape, colour, scale, ...), for colouring and analysis."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Factors:
    """One row of factor values per image.

    `values`: float32 (N, F), in the order of `names`. A categorical factor (shape, colour)
    holds level indices and lists its level names in `levels`; a continuous one (scale, x)
    holds the value itself.
    """

    names: list[str]
    values: np.ndarray
    levels: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"factor values of shape {self.values.shape} do not fit the {len(self.names)} names")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def is_categorical(self, name: str) -> bool:
        return name in self.levels

    def subset(self, count: int) -> Factors:
        return Factors(list(self.names), self.values[:count], dict(self.levels))

    def take(self, indices: np.ndarray) -> Factors:
        return Factors(list(self.names), self.values[np.asarray(indices)], dict(self.levels))


def factor_correlations(factors: Factors, latents: np.ndarray) -> np.ndarray:
    """|Pearson correlation| of each latent dimension (columns of `latents`) with each factor: (D, F).

    A categorical factor counts by the best of its one-vs-rest indicators; a constant column
    correlates with nothing (0).
    """
    latents = np.asarray(latents, dtype=np.float64)
    centred = latents - latents.mean(axis=0)
    scale = np.sqrt((centred ** 2).sum(axis=0))
    result = np.zeros((latents.shape[1], len(factors.names)))
    for index, name in enumerate(factors.names):
        column = factors.values[:, index].astype(np.float64)
        if factors.is_categorical(name):
            targets = [(column == level).astype(np.float64) for level in np.unique(column)]
        else:
            targets = [column]
        for target in targets:
            target = target - target.mean()
            norm = np.sqrt((target ** 2).sum())
            denominator = scale * norm
            with np.errstate(invalid="ignore", divide="ignore"):
                correlation = np.where(denominator > 0, np.abs(target @ centred) / denominator, 0.0)
            result[:, index] = np.maximum(result[:, index], correlation)
    return result


def dimension_factors(factors: Factors, latents: np.ndarray, minimum: float = 0.3) -> list[str]:
    """For each latent dimension, the factor it follows most (by |correlation|), or "" below `minimum`."""
    correlations = factor_correlations(factors, latents)
    names = []
    for row in correlations:
        best = int(np.argmax(row)) if row.size else 0
        names.append(factors.names[best] if row.size and row[best] >= minimum else "")
    return names


def factor_groups(factors: Factors, name: str, rows: np.ndarray | None = None, bins: int = 8
                  ) -> tuple[np.ndarray, list[str], bool]:
    """Group images by one factor, for colouring a map: (group of each row, group names, ordered).

    A categorical factor groups by level (names: the levels'); a continuous one by `bins` equal
    ranges of its values over all images (names like "0.50-0.56"), `ordered` True so they can be
    drawn with a sequential colour map. `rows` picks and orders the images (default: all).
    """
    column = factors.column(name)
    picked = column if rows is None else column[np.asarray(rows)]
    if factors.is_categorical(name):
        return picked.astype(np.int64), list(factors.levels[name]), False
    low, high = float(column.min()), float(column.max())
    width = (high - low) / bins if high > low else 1.0
    groups = np.clip(((picked - low) / width).astype(np.int64), 0, bins - 1)
    decimals = 0 if width >= 10 else 2
    names = [f"{low + i * width:.{decimals}f}-{low + (i + 1) * width:.{decimals}f}" for i in range(bins)]
    return groups, names, True
