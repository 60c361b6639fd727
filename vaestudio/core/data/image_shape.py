"""Image size and channels of a dataset: what the data holds, and conforming it to what a model needs.

Images are kept as uint8 arrays laid out as pictures are: (N, H, W) for grayscale and
(N, H, W, 3) for colour, square. A dataset is conformed once, when it is read: image folders
resize and centre-crop each picture as it is decoded (`fit_picture`), arrays already in memory
(IDX files, named datasets) are resized in chunks (`conform_images`), never kept as floats.
"""

from __future__ import annotations

import numpy as np
import torch

from vaestudio.core.errors import ConfigError

IMAGE_SIZES = (28, 32, 64)  # the sizes the networks are built for
CHANNEL_COUNTS = (1, 3)
_CHUNK = 2048  # images resized at a time: float copies of a chunk only


def check_request(image_size: int | None, channels: int | None) -> None:
    """A requested size or channel count (None: from the data) the networks support, else a ConfigError."""
    if image_size is not None and image_size not in IMAGE_SIZES:
        raise ConfigError(f"Image size {image_size} is not supported: choose {', '.join(map(str, IMAGE_SIZES))}.")
    if channels is not None and channels not in CHANNEL_COUNTS:
        raise ConfigError(f"Channels {channels} is not supported: choose 1 (grayscale) or 3 (colour).")


def image_shape(images: np.ndarray | torch.Tensor) -> tuple[int, int]:
    """(image_size, channels) of a batch laid out (N, H, W) or (N, H, W, C)."""
    channels = 1 if images.ndim == 3 else int(images.shape[3])
    return int(images.shape[1]), channels


def nearest_size(side: int) -> int:
    """The supported size a picture of this (shorter) side is shown at by default: the largest not above it."""
    fitting = [size for size in IMAGE_SIZES if size <= side]
    return fitting[-1] if fitting else IMAGE_SIZES[0]


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """RGB (..., 3) uint8 to luminance (...) uint8 with the ITU-R 601-2 weights (as PIL's "L" mode)."""
    weighted = images[..., 0] * np.float32(0.299) + images[..., 1] * np.float32(0.587)
    weighted += images[..., 2] * np.float32(0.114)
    return np.clip(weighted + 0.5, 0, 255).astype(np.uint8)


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) uint8 images with `channels` channels (gray repeated, or luminance)."""
    _, have = image_shape(images)
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images[..., None], 3, axis=3)
    return _chunked(images, to_grayscale)


def _chunked(images: np.ndarray, convert) -> np.ndarray:
    parts = [convert(images[start:start + _CHUNK]) for start in range(0, len(images), _CHUNK)]
    return np.concatenate(parts) if parts else convert(images)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 images (N, S, S[, C]) resized to (N, size, size[, C]): area averaging to shrink,
    bilinear to enlarge, a chunk at a time."""
    side, channels = image_shape(images)
    if side == size:
        return images
    out_shape = (len(images), size, size) + ((channels,) if images.ndim == 4 else ())
    out = np.empty(out_shape, np.uint8)
    for start in range(0, len(images), _CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + _CHUNK])).float()
        chunk = chunk.unsqueeze(1) if images.ndim == 3 else chunk.permute(0, 3, 1, 2)
        if size < side:
            resized = torch.nn.functional.interpolate(chunk, size=(size, size), mode="area")
        else:
            resized = torch.nn.functional.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False)
        resized = resized.squeeze(1) if images.ndim == 3 else resized.permute(0, 2, 3, 1)
        out[start:start + len(chunk)] = resized.add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()
    return out


def conform_images(images: np.ndarray, image_size: int | None, channels: int | None) -> np.ndarray:
    """Images at the requested size and channel count (None keeps what the data has)."""
    check_request(image_size, channels)
    if channels is not None:
        images = convert_channels(images, channels)
    if image_size is not None:
        images = resize_images(images, image_size)
    return images


def fit_picture(picture, size: int, channels: int) -> np.ndarray:
    """A PIL image centre-cropped to a square, resized to `size` (LANCZOS) and converted: (H, W) or (H, W, 3) uint8."""
    from PIL import Image

    converted = picture.convert("L" if channels == 1 else "RGB")
    width, height = converted.size
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        converted = converted.crop((left, top, left + side, top + side))
    if converted.size != (size, size):
        converted = converted.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(converted, dtype=np.uint8)
