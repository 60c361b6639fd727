"""Tables as CSV: the encoded test set and the loss history, for plotting elsewhere.

Floats are written with 7 significant digits (what a float32 holds), so the same model
gives the same file. Every file is written atomically (see `image_files.write_atomically`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaestudio.core.data.factors import Factors
from vaestudio.core.errors import ConfigError
from vaestudio.core.latent.image_files import check_extension, write_atomically
from vaestudio.core.latent.space import (
    DimensionProjection,
    EncodedSet,
    PCAProjection,
    Projection,
)
from vaestudio.core.models.history import TrainingHistory

TABLES = ("encoded", "history", "epochs")
MAP_CHOICES = ("auto", "pca", "dims")
HISTORY_COLUMNS = ("step", "loss", "reconstruction", "kl")
EPOCH_COLUMNS = ("epoch", "train_loss", "train_reconstruction", "train_kl", "test_loss", "test_reconstruction",
                 "test_kl", "active_units", "seconds")


def _number(value: float) -> str:
    return format(float(value), ".7g")


def _write_csv(path: str | Path, header: Sequence[str], rows) -> Path:
    check_extension(path, (".csv",), "a table")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    return write_atomically(path, lambda temporary: temporary.write_bytes(data))


def map_projection(mu: np.ndarray, method: str = "auto", dims: tuple[int, int] = (0, 1)) -> Projection:
    """The plane of the latent map: two chosen dimensions, or PCA ('auto': dimensions when D = 2, else PCA)."""
    latent_dim = int(np.asarray(mu).shape[1])
    if method == "auto":
        method = "dims" if latent_dim == 2 else "pca"
    if method == "pca":
        return PCAProjection(mu)
    if method == "dims":
        try:
            return DimensionProjection(latent_dim, *dims)
        except ValueError as error:
            raise ConfigError(f"Map dimensions {dims}: {error}.") from error
    raise ConfigError(f"Unknown map {method!r}: choose one of {', '.join(MAP_CHOICES)}.")


def dimension_name(index: int) -> str:
    """The name a person reads for the 0-based latent dimension `index`: z1 for 0, … (numbered from 1)."""
    return f"z{index + 1}"


def dimension_names(latent_dim: int) -> list[str]:
    """z1 .. zD."""
    return [dimension_name(index) for index in range(latent_dim)]


def encoded_columns(latent_dim: int, with_map: bool = True) -> list[str]:
    """label, mu_z1 .. mu_zD, logvar_z1 .. logvar_zD[, map_x, map_y] (dimensions named as the window names them)."""
    names = dimension_names(latent_dim)
    columns = ["label"] + [f"mu_{name}" for name in names] + [f"logvar_{name}" for name in names]
    return columns + (["map_x", "map_y"] if with_map else [])


def write_encoded_csv(path: str | Path, encoded: EncodedSet, map_points: np.ndarray | None = None,
                      factors: Factors | None = None) -> Path:
    """One row per encoded image: its label, posterior means and log-variances, map position and, for a
    dataset with known factors (shapes), each factor (categorical ones by level name)."""
    count, latent_dim = encoded.mu.shape
    columns = [encoded.mu, encoded.logvar]
    if map_points is not None:
        map_points = np.asarray(map_points)
        if map_points.shape != (count, 2):
            raise ConfigError(f"The map has {map_points.shape[0]} points for {count} encoded images.")
        columns.append(map_points)
    values = np.concatenate(columns, axis=1) if count else np.zeros((0, 0))
    header = encoded_columns(latent_dim, map_points is not None)
    rows = [[str(int(label))] + [_number(value) for value in row] for label, row in zip(encoded.labels, values)]
    if factors is not None:
        if len(factors) != count:
            raise ConfigError(f"The dataset has factors of {len(factors)} images for {count} encoded images.")
        header += [f"factor_{name}" for name in factors.names]
        for row, factor_row in zip(rows, factors.values):
            row += [factors.levels[name][int(value)] if factors.is_categorical(name) else _number(value)
                    for name, value in zip(factors.names, factor_row)]
    return _write_csv(path, header, rows)


def write_history_csv(path: str | Path, history: TrainingHistory) -> Path:
    """The per-step training losses: step (from 1), loss, reconstruction, kl (nats per image)."""
    rows = ([str(step), _number(loss), _number(reconstruction), _number(kl)]
            for step, (loss, reconstruction, kl) in enumerate(
                zip(history.step_loss, history.step_reconstruction, history.step_kl), start=1))
    return _write_csv(path, HISTORY_COLUMNS, rows)


def write_epochs_csv(path: str | Path, history: TrainingHistory) -> Path:
    """One row per epoch: train and test losses, active units, time, then the test KL of each dimension."""
    dims = max((len(result.test.kl_per_dim) for result in history.epochs), default=0)
    header = list(EPOCH_COLUMNS) + [f"kl_{name}" for name in dimension_names(dims)]
    rows = []
    for result in history.epochs:
        test = result.test
        kl_per_dim = list(test.kl_per_dim) + [float("nan")] * (dims - len(test.kl_per_dim))
        rows.append([str(result.epoch)] + [_number(value) for value in (
            result.train_loss, result.train_reconstruction, result.train_kl, test.loss, test.reconstruction, test.kl)]
            + [str(test.active_units), _number(result.seconds)] + [_number(value) for value in kl_per_dim])
    return _write_csv(path, header, rows)
