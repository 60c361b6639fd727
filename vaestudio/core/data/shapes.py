"""The built-in `shapes` dataset: coloured squares, ellipses and hearts on a dark background.

In the spirit of dSprites and 3D Shapes: every image is drawn from six known factors (shape,
colour, scale, rotation, x, y), so a model's latent dimensions can be compared with them.
Generated with numpy, vectorised a chunk of images at a time (drawn at twice the size and
averaged down, for smooth edges), deterministically: the same seed, count and size give the
same bytes on disk. No network is needed.

On disk, in `<data dir>/shapes/`: `train-images.npy` and `test-images.npy` (uint8
(N, S, S, 3)), `train-factors.npy` and `test-factors.npy` (float32 (N, 6)), and
`shapes.json` (factor names, level names, size, seed, count). Arrays are read with
`allow_pickle=False`. Every tenth image is a test image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaestudio.core.data.factors import Factors
from vaestudio.core.data.image_shape import IMAGE_SIZES
from vaestudio.core.data.paths import atomic_output, atomic_write_bytes
from vaestudio.core.errors import ConfigError, DataFileError

Progress = Callable[[str, "float | None"], None]

FOLDER = "shapes"
INDEX_FILE = "shapes.json"
SHAPE_NAMES = ("square", "ellipse", "heart")
COLOURS = {
    "red": (230, 57, 70), "orange": (244, 162, 97), "yellow": (233, 216, 76),
    "green": (82, 183, 136), "blue": (69, 123, 230), "purple": (181, 101, 216),
}
COLOUR_NAMES = tuple(COLOURS)
FACTOR_NAMES = ("shape", "colour", "scale", "rotation", "x", "y")
BACKGROUND = np.array((18, 20, 28), np.float32)
SCALE_RANGE = (0.5, 1.0)       # of the largest shape's radius
LARGEST_RADIUS = 0.26          # of the image side
DEFAULT_COUNT = 10_000
DEFAULT_SIZE = 64
DEFAULT_SEED = 0
COUNT_RANGE = (10, 1_000_000)
_CHUNK = 256


@dataclass(frozen=True)
class ShapesFiles:
    folder: Path
    size: int
    seed: int
    count: int


def draw_factors(count: int, seed: int) -> np.ndarray:
    """Each image's factors, float32 (count, 6): shape and colour indices, scale in SCALE_RANGE,
    rotation in degrees [0, 360), x and y in [0, 1] (left to right, top to bottom)."""
    rng = np.random.default_rng(seed)
    factors = np.empty((count, len(FACTOR_NAMES)), np.float32)
    factors[:, 0] = rng.integers(0, len(SHAPE_NAMES), count)
    factors[:, 1] = rng.integers(0, len(COLOUR_NAMES), count)
    factors[:, 2] = rng.uniform(*SCALE_RANGE, count)
    factors[:, 3] = rng.uniform(0.0, 360.0, count)
    factors[:, 4:6] = rng.uniform(0.0, 1.0, (count, 2))
    return factors


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points (u, v) of the unit-radius shape's own frame (v upwards) are inside it."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == 1:
        v = v * (1 / 0.55)
        return u * u + v * v <= 1.0
    u, v = u * 1.15, v * 1.15 + 0.1  # the heart curve (u^2 + v^2 - 1)^3 = u^2 v^3, fitted to the unit radius
    square = u * u
    ring = square + v * v - 1.0
    return ring * ring * ring <= square * v * v * v


def _coverage(factors: np.ndarray, size: int) -> np.ndarray:
    """How much of each pixel each shape covers, float32 (n, size, size) in [0, 1]."""
    fine = 2 * size
    grid = (np.arange(fine, dtype=np.float32) + 0.5) / fine
    coverage = np.empty((len(factors), size, size), np.float32)
    margin = LARGEST_RADIUS * 1.15
    for shape in range(len(SHAPE_NAMES)):
        rows = np.flatnonzero(factors[:, 0] == shape)
        if not len(rows):
            continue
        column = factors[rows][:, None, None, :].astype(np.float32)
        radius = LARGEST_RADIUS * column[..., 2]
        centre_x = margin + (1 - 2 * margin) * column[..., 4]
        centre_y = margin + (1 - 2 * margin) * column[..., 5]
        angle = np.deg2rad(column[..., 3])
        dx = (grid[None, None, :] - centre_x) / radius
        dy = (centre_y - grid[None, :, None]) / radius  # upwards
        cos, sin = np.cos(angle), np.sin(angle)
        inside = _inside(shape, cos * dx + sin * dy, cos * dy - sin * dx)
        counts = inside[:, 0::2, 0::2].astype(np.uint8)
        counts += inside[:, 1::2, 0::2]
        counts += inside[:, 0::2, 1::2]
        counts += inside[:, 1::2, 1::2]
        coverage[rows] = counts * np.float32(0.25)
    return coverage


def render_shapes(factors: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """uint8 RGB images (n, size, size, 3) of the shapes that `factors` describe."""
    images = np.empty((len(factors), size, size, 3), np.uint8)
    palette = np.array(list(COLOURS.values()), np.float32)
    for start in range(0, len(factors), _CHUNK):
        part = factors[start:start + _CHUNK]
        alpha = _coverage(part, size)[..., None]
        colour = palette[part[:, 1].astype(np.int64)][:, None, None, :]
        picture = BACKGROUND + alpha * (colour - BACKGROUND)
        images[start:start + len(part)] = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    return images


def check_options(size: int, count: int, seed: int = DEFAULT_SEED) -> None:
    if size not in IMAGE_SIZES:
        raise ConfigError(f"Shapes can be made at {', '.join(map(str, IMAGE_SIZES))} pixels, not {size}.")
    if not COUNT_RANGE[0] <= count <= COUNT_RANGE[1]:
        raise ConfigError(f"Make between {COUNT_RANGE[0]:,} and {COUNT_RANGE[1]:,} shapes (got {count:,}).")
    if not 0 <= seed < 2**32:
        raise ConfigError(f"The seed must be between 0 and {2**32 - 1} (got {seed}).")


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as temporary, temporary.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)


def make_shapes(root: str | Path, *, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
                count: int = DEFAULT_COUNT, progress: Progress | None = None) -> ShapesFiles:
    """Generate the dataset into `root/shapes/` (replacing one there); every tenth image is a test image."""
    check_options(size, count, seed)
    folder = Path(root) / FOLDER
    if progress is not None:
        progress(f"Drawing {count:,} shapes at {size}x{size} into {folder}", None)
    factors = draw_factors(count, seed)
    test = np.arange(count) % 10 == 9
    for split, rows in (("train", ~test), ("test", test)):
        _save_array(folder / f"{split}-images.npy", render_shapes(factors[rows], size))
        _save_array(folder / f"{split}-factors.npy", factors[rows])
    index = {"format": "vaestudio-shapes", "version": 1, "size": size, "seed": seed, "count": count,
             "factors": list(FACTOR_NAMES), "levels": {"shape": list(SHAPE_NAMES), "colour": list(COLOUR_NAMES)}}
    atomic_write_bytes(folder / INDEX_FILE, (json.dumps(index, indent=1) + "\n").encode())
    return ShapesFiles(folder, size, seed, count)


def find_shapes(folders: list[Path]) -> Path | None:
    """The first `<folder>/shapes/` holding a made dataset."""
    for folder in folders:
        if (folder / FOLDER / INDEX_FILE).is_file():
            return folder / FOLDER
    return None


def _read_index(folder: Path) -> dict:
    path = folder / INDEX_FILE
    advice = "Make it again with `vaestudio data make shapes`."
    try:
        index = json.loads(path.read_text())
        names, levels = list(index["factors"]), dict(index["levels"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataFileError(f"{path}: cannot be read as a shapes index ({error}). {advice}") from None
    if names != list(FACTOR_NAMES):
        raise DataFileError(f"{path}: lists the factors {names}, not {list(FACTOR_NAMES)}. {advice}")
    return {"names": names, "levels": {key: [str(v) for v in value] for key, value in levels.items()}}


def _load_array(path: Path, dtype: type, ndim: int) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataFileError(f"{path}: cannot be read ({error}). Make the shapes again with "
                            "`vaestudio data make shapes`.") from None
    if array.dtype != dtype or array.ndim != ndim:
        raise DataFileError(f"{path}: holds {array.dtype} of {array.ndim} dimensions, not the shapes dataset's "
                            "arrays. Make the shapes again with `vaestudio data make shapes`.")
    return array


def read_shapes_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, Factors]:
    """Images (N, S, S, 3), labels (the shape index) and factors of one split."""
    index = _read_index(folder)
    images = _load_array(folder / f"{split}-images.npy", np.uint8, 4)
    values = _load_array(folder / f"{split}-factors.npy", np.float32, 2)
    if (len(values) != len(images) or values.shape[1] != len(FACTOR_NAMES) or images.shape[3] != 3
            or images.shape[1] != images.shape[2]):
        raise DataFileError(f"{folder}: the {split} images {images.shape} and factors {values.shape} do not "
                            "belong together. Make the shapes again with `vaestudio data make shapes`.")
    factors = Factors(index["names"], values, index["levels"])
    return images, values[:, 0].astype(np.int64), factors
