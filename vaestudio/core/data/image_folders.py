"""Datasets read from folders of images: one sub-folder of PNG/JPEG files per class.

With `train/` and `test/` sub-folders (each holding the class folders) those are the splits;
otherwise every tenth file of each class is held out as the test split. Each picture is
centre-cropped to a square, resized to the dataset's size and converted to its channels as it
is read (`image_shape.fit_picture`); unless asked for, the size is the largest supported one
that the smallest picture fills, and the channels are 3 when any picture is in colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vaestudio.core.data.image_shape import check_request, fit_picture, nearest_size
from vaestudio.core.errors import DataFileError, DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SOURCE_PIXELS = 50_000_000  # a larger picture is refused before it is decoded (each is shrunk to 64x64 or less)

Progress = Callable[[str, "float | None"], None]
LabelledImages = tuple[np.ndarray, np.ndarray]


def class_folders(folder: Path) -> list[Path]:
    """The visible sub-folders of `folder`, sorted by name."""
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _image_files(folder: Path) -> list[Path]:
    def is_image(path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")

    return sorted((p for p in folder.iterdir() if is_image(p)), key=lambda p: p.name)


_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _unreadable(path: Path, error: Exception) -> DataFileError:
    from PIL import Image

    if isinstance(error, Image.DecompressionBombError):
        return DataFileError(f"{path}: refused as a possible decompression bomb ({error}). Shrink it, or remove it.")
    return DataFileError(
        f"{path}: cannot be read as an image ({type(error).__name__}: {error}). Replace or remove the file.")


def _read_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (size, size) or (size, size, 3), centre-cropped and resized (LANCZOS)."""
    from PIL import Image

    if not Image.MAX_IMAGE_PIXELS:  # Pillow's own decompression-bomb limit stays on, whoever turned it off
        Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_SOURCE_PIXELS:
                raise DataFileError(
                    f"{path}: is {width:,} x {height:,} pixels, more than the {MAX_SOURCE_PIXELS // 1_000_000} "
                    f"megapixels VAE Studio reads (it shrinks every image to {size}x{size}). Shrink it, or remove it.")
            return fit_picture(image, size, channels)
    except DataFileError:
        raise
    except Exception as error:
        raise _unreadable(path, error) from None


def shape_of_pictures(paths: Sequence[Path]) -> tuple[int, int]:
    """The default (image_size, channels) of these pictures, from their headers only."""
    from PIL import Image

    if not Image.MAX_IMAGE_PIXELS:  # as in _read_image
        Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
    smallest, colour = None, False
    for path in paths:
        try:
            with Image.open(path) as image:
                side = min(image.size)
                colour = colour or image.mode not in _GRAY_MODES
        except Exception as error:
            raise _unreadable(path, error) from None
        smallest = side if smallest is None else min(smallest, side)
    return nearest_size(smallest or 0), 3 if colour else 1


def _stack(files: list[tuple[Path, int]], size: int, channels: int) -> LabelledImages:
    shape = (len(files), size, size) + ((channels,) if channels > 1 else ())
    images = np.empty(shape, dtype=np.uint8)
    for index, (path, _) in enumerate(files):
        images[index] = _read_image(path, size, channels)
    return images, np.array([label for _, label in files], dtype=np.int64)


def read_image_folder(name: str, folder: Path, splits: Sequence[str], progress: Progress | None = None,
                      image_size: int | None = None, channels: int | None = None
                      ) -> tuple[dict[str, LabelledImages], list[str]]:
    """The images of the requested `splits` ("train", "test") and the class folders' names.

    Every split's files are listed (which file goes where depends on all of them), but only
    the requested splits' images are decoded. `image_size` and `channels` left None come from
    the pictures of both splits (so one split loaded alone has the same shape).
    """
    check_request(image_size, channels)
    try:
        return _read_image_folder(name, folder, splits, progress, image_size, channels)
    except OSError as error:  # a folder that cannot be listed, a link that loops, a file that vanished
        where = error.filename or folder
        raise DatasetError(f"{name}: {where} cannot be read ({error.strerror or error}). Check that the folder "
                           "and its files are readable.") from None


def _read_image_folder(name: str, folder: Path, splits: Sequence[str], progress: Progress | None,
                       image_size: int | None, channels: int | None) -> tuple[dict[str, LabelledImages], list[str]]:
    if not folder.is_dir():
        raise DatasetError(f"{name}: the folder {folder} does not exist. Check the path after 'images:'.")
    layout = f"put the images in one sub-folder per class, e.g. {folder}/cat/1.png and {folder}/dog/1.png"
    split_roots = {split: folder / split for split in ("train", "test")}
    presplit = all(path.is_dir() and class_folders(path) for path in split_roots.values())
    roots = list(split_roots.values()) if presplit else [folder]
    classes = sorted({c.name for root in roots for c in class_folders(root)})
    if not classes:
        raise DatasetError(f"{name}: {folder} holds no class sub-folders; {layout}.")
    per_split: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for label, class_name in enumerate(classes):
        for root in roots:
            class_folder = root / class_name
            files = _image_files(class_folder) if class_folder.is_dir() else []
            if class_folder.is_dir() and not files:
                raise DatasetError(
                    f"{name}: the class folder {class_folder} holds no PNG or JPEG images; "
                    "add images or remove the folder."
                )
            if presplit:
                per_split[root.name].extend((path, label) for path in files)
                continue
            held_out = {i for i in range(len(files)) if i % 10 == 9} or ({len(files) - 1} if len(files) >= 2 else set())
            for index, path in enumerate(files):
                per_split["test" if index in held_out else "train"].append((path, label))
    if not per_split["train"]:
        raise DatasetError(f"{name}: {folder} holds no training images; {layout}.")
    count = sum(len(per_split[split]) for split in splits)
    if progress is not None:
        progress(f"Reading {count} images from {folder}", None)
    if image_size is None or channels is None:
        found_size, found_channels = shape_of_pictures([path for files in per_split.values() for path, _ in files])
        image_size = image_size or found_size
        channels = channels or found_channels
    arrays = {split: _stack(per_split[split], image_size, channels) for split in splits}
    if progress is not None:
        progress(f"{name} loaded", 1.0)
    return arrays, classes
