"""Read and write IDX files, the format of MNIST and its relatives (raw or gzip-compressed).

An IDX file is a 4-byte magic number (two zero bytes, a data type byte, the number of
dimensions), one big-endian uint32 per dimension, then the items. VAE Studio reads
unsigned-byte files only: images (magic 0x00000803, N x 28 x 28) and labels
(magic 0x00000801, N).

Every size is checked against the file before any memory is allocated for the items, so a
damaged header that claims a billion images fails at once with a clear message.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vaestudio.core.errors import DataFileError, DatasetError

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
UNSIGNED_BYTE = 0x08
IMAGE_SIDE = 28

_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK_BYTES = 4 << 20
_FIX = "Replace it with an intact copy of the file."


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX image file into a writable, C-contiguous uint8 array of shape (N, 28, 28)."""
    return _read_idx(Path(path), kind="images")


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX label file into a writable uint8 array of shape (N,)."""
    return _read_idx(Path(path), kind="labels")


def read_idx_pair(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file and its label file, checking that they hold the same number of items."""
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DataFileError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; they must belong together. Use the label file that "
            "came with these images."
        )
    return images, labels


def write_idx_images(path: str | Path, images: np.ndarray) -> None:
    """Write images of shape (N, 28, 28) as an IDX file, gzip-compressed if `path` ends in .gz.

    Any integer array with values 0-255 is accepted and stored as unsigned bytes.
    """
    images = _as_bytes(images, "images")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    _write_idx(Path(path), IMAGE_MAGIC, images)


def write_idx_labels(path: str | Path, labels: np.ndarray) -> None:
    """Write labels of shape (N,) as an IDX file, gzip-compressed if `path` ends in .gz.

    Any integer array with values 0-255 is accepted and stored as unsigned bytes.
    """
    labels = _as_bytes(labels, "labels")
    if labels.ndim != 1:
        raise ValueError(f"expected labels of shape (N,), got {labels.shape}")
    _write_idx(Path(path), LABEL_MAGIC, labels)


def _as_bytes(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"expected integer {what} with values 0-255, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError(f"expected {what} with values 0-255, got values from {values.min()} to {values.max()}")
    return values.astype(np.uint8)


def _write_idx(path: Path, magic: int, items: np.ndarray) -> None:
    header = struct.pack(">I", magic) + struct.pack(f">{items.ndim}I", *items.shape)
    payload = np.ascontiguousarray(items).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb", compresslevel=6) as handle:
            handle.write(header)
            handle.write(payload)
    else:
        with open(path, "wb") as handle:
            handle.write(header)
            handle.write(payload)


def _read_idx(path: Path, kind: str) -> np.ndarray:
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found. Check the path, or fetch the dataset again.") from None
    except OSError as error:
        raise DataFileError(
            f"{path}: cannot be opened ({error.strerror}). Check that the file is readable."
        ) from None
    with raw:
        compressed = raw.read(2) == _GZIP_SIGNATURE
        raw.seek(0)
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _parse(path, stream, kind, file_bytes=None)
            return _parse(path, raw, kind, file_bytes=os.fstat(raw.fileno()).st_size)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise DataFileError(
                f"{path}: the gzip data is damaged or cut short ({error}). {_FIX}"
            ) from None
        except OSError as error:
            raise DataFileError(f"{path}: reading failed ({error}). {_FIX}") from None


def _parse(path: Path, stream: BinaryIO, kind: str, file_bytes: int | None) -> np.ndarray:
    """Check the header, then read exactly the items it announces (no more, no less)."""
    what = "image" if kind == "images" else "label"
    magic_bytes = _read_exactly(stream, 4)
    if len(magic_bytes) < 4:
        raise DataFileError(f"{path}: only {len(magic_bytes)} bytes long, too short for an IDX file. {_FIX}")
    magic = struct.unpack(">I", magic_bytes)[0]
    expected_magic, expected_ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    if magic != expected_magic:
        raise DataFileError(_wrong_magic_message(path, magic, what))

    dims_bytes = _read_exactly(stream, 4 * expected_ndim)
    if len(dims_bytes) < 4 * expected_ndim:
        raise DataFileError(f"{path}: the IDX header is cut short. {_FIX}")
    dims = struct.unpack(f">{expected_ndim}I", dims_bytes)
    count = dims[0]
    if kind == "images" and dims[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataFileError(
            f"{path}: holds {dims[1]}x{dims[2]} images, but VAE Studio needs 28x28 images. "
            "Resize them first, or put them as PNG files in class folders and use the "
            "images:<folder> source, which resizes."
        )

    item_bytes = IMAGE_SIDE * IMAGE_SIDE if kind == "images" else 1
    needed = count * item_bytes
    header_bytes = 4 + 4 * expected_ndim
    _check_memory(path, what, count, needed)
    if file_bytes is not None:
        _check_size(path, what, count, item_bytes, file_bytes - header_bytes)
        data = np.fromfile(stream, dtype=np.uint8, count=needed)
        if data.size != needed:
            _check_size(path, what, count, item_bytes, data.size)
    else:
        data = _read_bounded(stream, needed)
        _check_size(path, what, count, item_bytes, data.size)
        if data.size > needed:
            data = data[:needed]
    return data.reshape(dims)


def available_memory() -> int | None:
    """Bytes of memory this machine can give now (Linux: MemAvailable), or None where that is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(path: Path, what: str, count: int, needed: int) -> None:
    """Refuse a claimed size that this machine cannot hold, before reading (a gzip file's may be a lie)."""
    available = available_memory()
    if available is not None and needed > available // 2:
        raise DataFileError(
            f"{path}: its header claims {count:,} {what}s ({needed / 1e9:.1f} GB), more than this machine can "
            f"hold now ({available / 1e9:.1f} GB free). The header is damaged, or the dataset is too large to "
            f"train on here. {_FIX}"
        )


def _wrong_magic_message(path: Path, magic: int, what: str) -> str:
    other = {IMAGE_MAGIC: "image", LABEL_MAGIC: "label"}.get(magic)
    if other is not None:
        return (
            f"{path}: is an IDX {other} file, not an IDX {what} file. Check that the images "
            "and labels files are not swapped."
        )
    if magic >> 16 == 0 and (magic >> 8) & 0xFF != UNSIGNED_BYTE:
        return (
            f"{path}: stores IDX data of type 0x{(magic >> 8) & 0xFF:02x}; VAE Studio reads "
            f"unsigned-byte (0x08) {what} files only. Convert the file to uint8 first."
        )
    return (
        f"{path}: is not an IDX {what} file (magic number 0x{magic:08x}, expected "
        f"0x{IMAGE_MAGIC if what == 'image' else LABEL_MAGIC:08x}). {_FIX}"
    )


def _check_size(path: Path, what: str, count: int, item_bytes: int, available: int) -> None:
    needed = count * item_bytes
    if available < needed:
        raise DataFileError(
            f"{path}: is truncated: its header announces {count} {what}s ({needed} bytes) but "
            f"the file holds only {max(available, 0)} bytes after the header "
            f"({max(available, 0) // item_bytes} complete {what}s). {_FIX}"
        )
    if available > needed:
        raise DataFileError(
            f"{path}: has data after its last {what}: the header announces {count} {what}s "
            f"({needed} bytes) but more follow. The header or the file is damaged. {_FIX}"
        )


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _read_bounded(stream: BinaryIO, needed: int) -> np.ndarray:
    """Read at most `needed` + 1 bytes, growing the buffer only as data actually arrives.

    A compressed file does not say how long it is once decompressed, so the buffer cannot
    be sized from the header (which may lie); the one extra byte reveals trailing data.
    """
    limit = needed + 1
    buffer = bytearray()
    while len(buffer) < limit:
        chunk = stream.read(min(_CHUNK_BYTES, limit - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return np.frombuffer(buffer, dtype=np.uint8)
