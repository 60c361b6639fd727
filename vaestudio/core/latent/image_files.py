"""Writing pictures to files: PNG and animated GIF, atomically, with errors a person can act on.

Every file is written to a temporary sibling and renamed into place, so a full disk or a
failing encoder never leaves half a file. `check_extension` and `check_sheet_path` refuse a
file name before any work is done.
"""

from __future__ import annotations

import errno
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from vaestudio.core.data.paths import atomic_output
from vaestudio.core.errors import ExportError

ANIMATED_KINDS = ("interpolation", "traversal")  # the sheet kinds that can also be saved as a GIF
SHEET_EXTENSIONS = (".png", ".gif")


def describe_write_error(path: Path, error: OSError) -> str:
    """A message a person can act on, for an OSError raised while writing `path`."""
    if error.errno == errno.ENOSPC:
        return f"The disk is full: {path} was not written. Free some space or choose another folder."
    if error.errno == getattr(errno, "EDQUOT", None):
        return f"The disk quota is used up: {path} was not written. Free some space or choose another folder."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write to the folder {path.parent}: permission denied. Choose a folder you can write to."
    if isinstance(error, (NotADirectoryError, FileExistsError)) and not path.parent.is_dir():
        return f"Cannot write {path}: {path.parent} is not a folder. Choose another place."
    if isinstance(error, IsADirectoryError) or path.is_dir():
        return f"Cannot write {path}: it is a folder. Choose a file name."
    return f"Could not write {path}: {error.strerror or error}."


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(temporary_path)`, then rename it to `path`; nothing half-written is left behind.

    Raises ExportError with a clear message for an unwritable folder, a full disk or a
    path that is a folder.
    """
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            write(temporary)
    except OSError as error:
        raise ExportError(describe_write_error(path, error)) from error
    return path


def check_extension(path: str | Path, allowed: Sequence[str], what: str) -> str:
    """The lower-case suffix of `path`, or ExportError naming the ones that work."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        shown = f"'{suffix}'" if suffix else "a file with no extension"
        raise ExportError(f"Cannot write {what} as {shown}: name the file with {' or '.join(allowed)}.")
    return suffix


def check_sheet_path(path: str | Path, kind: str) -> str:
    """The suffix of a sheet's file: .png, or .gif for the animated kinds; ExportError otherwise."""
    suffix = check_extension(path, SHEET_EXTENSIONS, "a sheet")
    if suffix == ".gif" and kind not in ANIMATED_KINDS:
        raise ExportError(f"A {kind} sheet is a still image: save it as .png "
                          f"(GIFs are made of {' and '.join(ANIMATED_KINDS)}).")
    return suffix


def encode_png(picture: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB (H, W, 3) picture, through torchvision's `save_image`.

    `save_image` takes levels in [0, 1] and rounds them back to the nearest 8-bit level, so
    every level comes back exactly as it was.
    """
    from torchvision.utils import save_image

    tensor = torch.from_numpy(np.ascontiguousarray(picture, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
    buffer = io.BytesIO()
    save_image(tensor, buffer, format="png")
    return buffer.getvalue()


def write_png(picture: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 picture as PNG, atomically. The same array always gives the same bytes."""
    check_extension(path, (".png",), "a PNG image")
    data = encode_png(picture)
    return write_atomically(path, lambda temporary: temporary.write_bytes(data))


def write_gif(frames: Sequence[np.ndarray], path: str | Path, frame_ms: int = 120) -> Path:
    """Write uint8 RGB frames as a looping animated GIF (Pillow), atomically.

    Pillow merges a frame identical to the one before it into that frame's time.
    """
    from PIL import Image

    check_extension(path, (".gif",), "an animation")
    if not frames:
        raise ExportError("An animation needs at least one frame.")
    images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]

    def save(temporary: Path) -> None:
        images[0].save(temporary, format="GIF", save_all=True, append_images=images[1:], duration=int(frame_ms),
                       loop=0, optimize=False)

    return write_atomically(path, save)
