"""Image sheets and animations of what a model decodes: the figures people export.

A `SheetSpec` says what to draw; `sheet_images` builds the latent batch and decodes it (a
grid of float images in [0, 1]); `render_sheet` and `animation_frames` turn that grid into
the uint8 RGB pictures that `write_png` and `write_gif` (in `image_files`) save. `export_sheet` does all of it
for one file; the command line and the window both call it, so the same settings give the
same bytes.

Pixel size of a sheet: each S x S image (S the model's image size: 28, 32 or 64) is enlarged
`scale` times (nearest neighbour) and `padding` output pixels of the background separate the
tiles and frame the sheet, so a sheet of R x C images is C * (S * scale + padding) + padding
pixels wide and R * (S * scale + padding) + padding high, plus a margin on the left when rows
are labelled (`row_labels`: a traversal's dimensions and the factors they follow). A
reconstruction sheet has 2 * rows image rows (each row of originals is followed by its
reconstructions). Grayscale models' images go through the colormap; colour models' images
are shown in their own colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from vaestudio.core.data.factors import Factors, dimension_factors
from vaestudio.core.errors import ConfigError
from vaestudio.core.latent.image_files import (
    ANIMATED_KINDS,
    check_sheet_path,
    write_gif,
    write_png,
)
from vaestudio.core.latent.space import (
    DimensionProjection,
    Projection,
    decode_latents,
    encode_images,
    grid_points,
    interpolate,
    reconstruct_images,
    sample_prior,
)
from vaestudio.core.latent.tables import dimension_name
from vaestudio.core.models.networks import IMAGE_SIZE, VAE
from vaestudio.core.models.training_config import SEED_RANGE

KINDS = ("samples", "manifold", "interpolation", "reconstructions", "traversal")
INTERPOLATION_METHODS = ("linear", "slerp")
INTERPOLATION_ENDS = ("prior", "test")
MAX_PIXELS = 50_000_000

# 17 evenly spaced colours of each map (matplotlib's perceptually uniform maps, CC0), linearly
# interpolated to 256 entries: within 7 of 255 of the original tables in every channel.
_ANCHORS = {
    "viridis": "440154 48186a 472d7b 424086 3b528b 33638d 2c728e 26828e 21918c 1f9f88 27ad81 3dbc74 "
               "5cc863 81d34d aadc32 d5e21a fde725",
    "magma": "000004 0a0822 1d1147 36106b 51127c 6a1c81 832681 9c2e7f b73779 cf4070 e55064 f4695c "
             "fb8761 fea571 fec287 fde0a1 fcfdbf",
    "inferno": "000004 0b0724 210c4a 3d0965 57106e 71196e 8a226a a32c61 bc3754 d04545 e35933 f1711f "
               "f98c0a fcaa0f f9c932 f2e865 fcffa4",
    "gray": "000000 ffffff",
    "gray_r": "ffffff 000000",
}
COLORMAPS = tuple(_ANCHORS)
_NAMED_COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128)}


@dataclass
class SheetSpec:
    """What a sheet shows and how it looks. `validate()` checks it against a model's latent size."""

    kind: str = "samples"
    rows: int = 8
    cols: int = 8
    padding: int = 2
    scale: int = 1
    background: str = "black"           # a name (black, white, gray) or '#rrggbb'
    colormap: str | None = None         # None: white digits on black, as the data; or one of COLORMAPS (grayscale)
    seed: int = 0                       # prior draws (samples, interpolation ends), test images (reconstructions)
    dims: tuple[int, int] = (0, 1)      # manifold: the plane of these two dimensions ...
    projection: Projection | None = None  # ... unless a plane is given (the explorer's current one)
    extent: float = 3.0                 # manifold: half-width of the grid, in prior standard deviations
    method: str = "linear"              # interpolation: linear or slerp
    between: str = "prior"              # interpolation: between seeded prior draws, or encoded test images ("test")
    endpoints: np.ndarray | None = None  # interpolation: (rows, 2, D) start and end latents (overrides `between`)
    traversal_range: float = 3.0        # traversal: each row sets one dimension to -range ... +range
    traversal_dims: tuple[int, ...] | None = None  # traversal: one row per dimension; default 0 .. rows-1
    origin: np.ndarray | None = None    # traversal: the other coordinates (default 0, the prior mean)
    frame_ms: int = 120                 # GIF: time each frame is shown
    bounce: bool = False                # GIF: play forwards then backwards (2 * cols - 2 frames)
    row_labels: tuple[str, ...] | None = None  # written left of each image row (e.g. "z3 x" on a traversal)

    def validate(self, latent_dim: int, image_size: int = IMAGE_SIZE) -> SheetSpec:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown sheet kind {self.kind!r}: choose one of {', '.join(KINDS)}.")
        for name, value, low, high in (("rows", self.rows, 1, 256), ("cols", self.cols, 1, 256),
                                       ("padding", self.padding, 0, 256), ("scale", self.scale, 1, 32),
                                       ("frame time (ms)", self.frame_ms, 10, 60_000)):
            if not low <= int(value) <= high:
                raise ConfigError(f"Sheet {name} must be between {low} and {high} (got {value}).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise ConfigError(f"The seed must be a whole number from {SEED_RANGE[0]} to {SEED_RANGE[1]} (got {self.seed}).")
        if self.kind == "interpolation" and self.cols < 2:
            raise ConfigError("An interpolation needs at least 2 columns (its start and end).")
        if self.method not in INTERPOLATION_METHODS:
            raise ConfigError(f"Unknown interpolation {self.method!r}: choose linear or slerp.")
        if self.between not in INTERPOLATION_ENDS:
            raise ConfigError(f"Interpolate between {' or '.join(INTERPOLATION_ENDS)}, not {self.between!r}.")
        if self.colormap is not None and self.colormap not in COLORMAPS:
            raise ConfigError(f"Unknown colormap {self.colormap!r}: choose one of {', '.join(COLORMAPS)}.")
        parse_color(self.background)
        if not (math.isfinite(self.extent) and 0 < self.extent <= 100):
            raise ConfigError(f"The manifold extent must be above 0 and at most 100 prior standard deviations "
                              f"(got {self.extent}).")
        if not (math.isfinite(self.traversal_range) and self.traversal_range > 0):
            raise ConfigError(f"The traversal range must be above 0 (got {self.traversal_range}).")
        if self.kind == "manifold" and self.projection is None:
            first, second = self.dims
            if not (0 <= first < latent_dim and 0 <= second < latent_dim) or first == second:
                raise ConfigError(f"Choose two different manifold dimensions from z1 to z{latent_dim} (got "
                                  f"{', '.join(dimension_name(dim) for dim in self.dims)}).")
        for dim in self.traversal_dims or ():
            if not 0 <= dim < latent_dim:
                raise ConfigError(f"Traversal dimension {dimension_name(dim)} does not exist: the latent has "
                                  f"{latent_dim} (z1 to z{latent_dim}).")
        rows = grid_shape(self, latent_dim)[0]
        if self.row_labels is not None and len(self.row_labels) != rows:
            raise ConfigError(f"The sheet has {rows} rows but {len(self.row_labels)} row labels.")
        width, height = sheet_size(self, latent_dim, image_size)
        if width * height > MAX_PIXELS:
            raise ConfigError(f"The sheet would be {width} x {height} pixels: use fewer rows or columns or a smaller "
                              f"scale (at most {MAX_PIXELS // 1_000_000} megapixels).")
        return self


def default_shape(kind: str, latent_dim: int) -> tuple[int, int]:
    """Rows and columns that make a good figure of each kind."""
    return {"samples": (8, 8), "manifold": (15, 15), "interpolation": (1, 10), "reconstructions": (4, 8),
            "traversal": (min(latent_dim, 10), 9)}[kind]


def grid_shape(spec: SheetSpec, latent_dim: int) -> tuple[int, int]:
    """Image rows and columns of the sheet the spec makes."""
    if spec.kind == "reconstructions":
        return 2 * spec.rows, spec.cols
    if spec.kind == "traversal":
        return len(traversal_dimensions(spec, latent_dim)), spec.cols
    if spec.kind == "interpolation" and spec.endpoints is not None:
        return len(spec.endpoints), spec.cols
    return spec.rows, spec.cols


def _label_font():
    """Pillow's default font (its own small sans-serif, or a bitmap font without FreeType)."""
    from PIL import ImageFont

    return ImageFont.load_default()


def label_margin(labels: Sequence[str] | None) -> int:
    """Width in pixels of the left margin that holds row labels (0 without labels)."""
    if not labels:
        return 0
    font = _label_font()
    return int(math.ceil(max(font.getlength(label) for label in labels))) + 8


def sheet_size(spec: SheetSpec, latent_dim: int, image_size: int = IMAGE_SIZE) -> tuple[int, int]:
    """(width, height) in pixels of the PNG the spec makes for a model of `image_size` pixels a side."""
    rows, cols = grid_shape(spec, latent_dim)
    tile = image_size * spec.scale + spec.padding
    return cols * tile + spec.padding + label_margin(spec.row_labels), rows * tile + spec.padding


def dimensions_by_kl(kl_per_dim: Sequence[float], count: int) -> tuple[int, ...]:
    """The `count` latent dimensions carrying the most KL (the active ones), most first."""
    order = np.argsort(-np.asarray(kl_per_dim, dtype=np.float64), kind="stable")
    return tuple(int(dim) for dim in order[:count])


def traversal_dimensions(spec: SheetSpec, latent_dim: int) -> tuple[int, ...]:
    if spec.traversal_dims is not None:
        return tuple(spec.traversal_dims)
    return tuple(range(min(spec.rows, latent_dim)))


def _check_context_fits(spec: SheetSpec, latent_dim: int) -> None:
    """The plane, endpoints and origin taken from the explorer must belong to a model of this latent size
    (the model shown can change while an export is being set up)."""
    widths = {"plane": None if spec.projection is None else np.asarray(spec.projection.origin).size,
              "endpoints": None if spec.endpoints is None else np.asarray(spec.endpoints).shape[-1:],
              "origin": None if spec.origin is None else np.asarray(spec.origin).size}
    for what, width in widths.items():
        if width is not None and width not in (latent_dim, (latent_dim,)):
            raise ConfigError(f"The explorer's {what} belongs to another model (not a latent of {latent_dim}); "
                              "clear 'use the explorer's plane, endpoints and origin' or open the export again.")


def sheet_latents(spec: SheetSpec, latent_dim: int) -> np.ndarray:
    """The latent vectors of every tile, (rows, cols, D) float32, for every kind but reconstructions."""
    _check_context_fits(spec, latent_dim)
    rows, cols = grid_shape(spec, latent_dim)
    if spec.kind == "samples":
        return sample_prior(rows * cols, latent_dim, spec.seed).reshape(rows, cols, latent_dim)
    if spec.kind == "manifold":
        projection = spec.projection or DimensionProjection(latent_dim, *spec.dims)
        return projection.to_latent(grid_points(rows, cols, spec.extent)).reshape(rows, cols, latent_dim)
    if spec.kind == "interpolation":
        ends = spec.endpoints
        if ends is None:
            ends = sample_prior(2 * rows, latent_dim, spec.seed).reshape(rows, 2, latent_dim)
        ends = np.asarray(ends, dtype=np.float32).reshape(rows, 2, latent_dim)
        return np.stack([interpolate(start, end, cols, spec.method) for start, end in ends])
    if spec.kind == "traversal":
        origin = np.zeros(latent_dim, np.float32) if spec.origin is None else np.asarray(spec.origin, np.float32)
        latents = np.repeat(origin.reshape(1, 1, latent_dim), rows * cols, axis=0).reshape(rows, cols, latent_dim)
        values = np.linspace(-spec.traversal_range, spec.traversal_range, cols, dtype=np.float32)
        for row, dim in enumerate(traversal_dimensions(spec, latent_dim)):
            latents[row, :, dim] = values
        return latents
    raise ConfigError(f"A {spec.kind} sheet has no latent batch of its own.")


def choose_test_images(images: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """`count` test images picked at random (seeded), without repeats."""
    if images.shape[0] < count:
        raise ConfigError(f"The test set has {images.shape[0]} images; a sheet of {count} needs fewer rows or columns.")
    generator = torch.Generator().manual_seed(seed)
    return images[torch.randperm(images.shape[0], generator=generator)[:count]]


def needs_test_images(spec: SheetSpec) -> bool:
    """Whether the sheet is made from test images (reconstructions, interpolation between test images)."""
    return spec.kind == "reconstructions" or (spec.kind == "interpolation" and spec.between == "test"
                                              and spec.endpoints is None)


def sheet_images(model: VAE, spec: SheetSpec, test_images: torch.Tensor | None = None) -> np.ndarray:
    """Decoded images of the sheet, (rows, cols, H, W) or (rows, cols, H, W, 3) float32 in [0, 1]."""
    latent_dim = model.latent_dim
    spec.validate(latent_dim, model.config.image_size)
    shape = model.config.image_shape
    rows, cols = grid_shape(spec, latent_dim)
    if needs_test_images(spec) and test_images is None:
        raise ConfigError(f"A {spec.kind} sheet of test images needs the test set of the model's dataset.")
    if spec.kind == "interpolation" and needs_test_images(spec):
        ends = encode_images(model, choose_test_images(test_images, 2 * rows, spec.seed)).mu
        spec = replace(spec, endpoints=ends.reshape(rows, 2, latent_dim))
    if spec.kind == "reconstructions":
        originals = choose_test_images(test_images, spec.rows * spec.cols, spec.seed)
        recons = reconstruct_images(model, originals).reshape(spec.rows, spec.cols, *shape)
        originals = originals.cpu().numpy().astype(np.float32).reshape(recons.shape) / 255.0
        return np.stack([originals, recons], axis=1).reshape(rows, cols, *shape)
    latents = sheet_latents(spec, latent_dim)
    return decode_latents(model, latents.reshape(-1, latent_dim)).reshape(rows, cols, *shape)


def traversal_factor_labels(model: VAE, spec: SheetSpec, test_images: torch.Tensor, factors: Factors,
                            followed: Sequence[str] | None = None) -> tuple[str, ...]:
    """Row labels of a traversal: each row's dimension and the known factor it follows most, e.g. "z3 scale"
    (by |correlation| of the posterior means of the test images with the factor; none below 0.3).
    `followed` (the factor of each dimension, when a caller already found them) saves encoding the images."""

    latent_dim = model.latent_dim
    if followed is None or len(followed) != latent_dim:
        followed = dimension_factors(factors, encode_images(model, test_images).mu)
    return tuple(f"{dimension_name(dim)} {followed[dim]}".rstrip()
                 for dim in traversal_dimensions(spec, latent_dim))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] to uint8 (rounded to the nearest level)."""
    return np.clip(np.floor(np.asarray(images, dtype=np.float32) * 255.0 + 0.5), 0, 255).astype(np.uint8)


def colormap_table(name: str | None) -> np.ndarray:
    """A (256, 3) uint8 lookup table: level -> RGB. None is the plain gray ramp."""
    name = name or "gray"
    if name not in _ANCHORS:
        raise ConfigError(f"Unknown colormap {name!r}: choose one of {', '.join(COLORMAPS)}.")
    anchors = np.array([[int(code[i:i + 2], 16) for i in (0, 2, 4)] for code in _ANCHORS[name].split()], np.float64)
    positions = np.linspace(0.0, 255.0, len(anchors))
    levels = np.arange(256)
    return np.stack([np.interp(levels, positions, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


def parse_color(text: str) -> tuple[int, int, int]:
    """'black', 'white', 'gray', '#rgb' or '#rrggbb' as an (r, g, b) triple."""
    value = str(text).strip().lower()
    if value in _NAMED_COLORS:
        return _NAMED_COLORS[value]
    digits = value[1:] if value.startswith("#") else value
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    try:
        if len(digits) == 6:
            return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    except ValueError:
        pass
    raise ConfigError(f"Background {text!r} is not a colour: use black, white, gray or #rrggbb.")


def layout(tiles: np.ndarray, padding: int, background: tuple[int, int, int],
           row_labels: Sequence[str] | None = None) -> np.ndarray:
    """RGB tiles (rows, cols, h, w, 3) on a background, `padding` pixels around and between them, and each
    row's label (if any) in a margin on the left."""
    rows, cols, height, width = tiles.shape[:4]
    margin = label_margin(row_labels)
    canvas = np.empty((rows * (height + padding) + padding, margin + cols * (width + padding) + padding, 3), np.uint8)
    canvas[:] = np.asarray(background, np.uint8)
    for row in range(rows):
        top = padding + row * (height + padding)
        for col in range(cols):
            left = margin + padding + col * (width + padding)
            canvas[top:top + height, left:left + width] = tiles[row, col]
    if margin:
        _write_labels(canvas, row_labels, padding, height, background)
    return canvas


def _write_labels(canvas: np.ndarray, labels: Sequence[str], padding: int, height: int,
                  background: tuple[int, int, int]) -> None:
    """Each label in Pillow's default font, vertically centred on its row, in a colour that stands out."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = _label_font()
    ink = (20, 20, 20) if sum(background) > 3 * 128 else (235, 235, 235)
    for row, label in enumerate(labels):
        middle = padding + row * (height + padding) + height // 2
        draw.text((4, middle), label, fill=ink, font=font, anchor="lm")
    canvas[:] = np.asarray(picture)


def color_tiles(images: np.ndarray, spec: SheetSpec) -> np.ndarray:
    """Float images (..., S, S) through the colormap, or colour ones (..., S, S, 3) as they are, to enlarged
    RGB tiles (..., S * scale, S * scale, 3)."""
    pixels = to_uint8(images)
    colour = pixels.shape[-1] == 3  # images are at least 28 pixels a side: a last axis of 3 is the colours
    tiles = pixels if colour else colormap_table(spec.colormap)[pixels]
    return tiles.repeat(spec.scale, axis=-3).repeat(spec.scale, axis=-2)


def render_sheet(images: np.ndarray, spec: SheetSpec) -> np.ndarray:
    """The sheet as one uint8 RGB picture (H, W, 3)."""
    return layout(color_tiles(images, spec), spec.padding, parse_color(spec.background), spec.row_labels)


def frame_grid(count: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding `count` images."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def animation_frames(images: np.ndarray, spec: SheetSpec) -> list[np.ndarray]:
    """One frame per column of the sheet: column k of every row, laid out near-square.

    An interpolation strip becomes a morph, a traversal shows every dimension moving at once.
    With `spec.bounce` the frames play back again (without repeating the ends).
    """
    rows, cols = images.shape[:2]
    grid_rows, grid_cols = frame_grid(rows)
    tiles = color_tiles(images, spec)
    background = parse_color(spec.background)
    filler = np.empty(tiles.shape[2:], np.uint8)
    filler[:] = np.asarray(background, np.uint8)
    frames = []
    for col in range(cols):
        cells = list(tiles[:, col]) + [filler] * (grid_rows * grid_cols - rows)
        frames.append(layout(np.stack(cells).reshape(grid_rows, grid_cols, *filler.shape), spec.padding, background))
    if spec.bounce and cols > 2:
        frames += frames[-2:0:-1]
    return frames


@dataclass
class Sheet:
    """A rendered sheet: the picture a PNG holds and, for animated kinds, the frames a GIF holds."""

    spec: SheetSpec
    picture: np.ndarray
    frames: list[np.ndarray] = field(default_factory=list)

    def write(self, path: str | Path) -> Path:
        """Write the PNG or GIF (chosen by the extension) of exactly these arrays."""
        if check_sheet_path(path, self.spec.kind) == ".png":
            return write_png(self.picture, path)
        return write_gif(self.frames, path, self.spec.frame_ms)


def make_sheet(model: VAE, spec: SheetSpec, test_images: torch.Tensor | None = None) -> Sheet:
    """Decode and render a sheet, with its animation frames for interpolation and traversal."""
    images = sheet_images(model, spec, test_images)
    frames = animation_frames(images, spec) if spec.kind in ANIMATED_KINDS else []
    return Sheet(spec, render_sheet(images, spec), frames)


def export_sheet(model: VAE, spec: SheetSpec, path: str | Path, test_images: torch.Tensor | None = None) -> Sheet:
    """Make the sheet and write it to `path` (.png, or .gif for interpolation and traversal)."""
    check_sheet_path(path, spec.kind)
    sheet = make_sheet(model, spec, test_images)
    sheet.write(path)
    return sheet


def with_defaults(spec: SheetSpec, latent_dim: int, kl_per_dim: Sequence[float] | None = None) -> SheetSpec:
    """The spec with traversal rows chosen by KL (most active dimensions first) when they are known."""
    if spec.kind == "traversal" and spec.traversal_dims is None and kl_per_dim is not None \
            and len(kl_per_dim) == latent_dim:
        return replace(spec, traversal_dims=dimensions_by_kl(kl_per_dim, min(spec.rows, latent_dim)))
    return spec
