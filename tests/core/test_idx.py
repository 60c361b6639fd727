"""Reading and writing IDX files, and every way a file can be wrong."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from vaestudio.core.data.idx import (
    read_idx_images,
    read_idx_labels,
    read_idx_pair,
    write_idx_images,
    write_idx_labels,
)
from vaestudio.core.errors import DataFileError, DatasetError


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def _write_raw(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _image_header(count: int, rows: int = 28, cols: int = 28, magic: int = 0x00000803) -> bytes:
    return struct.pack(">IIII", magic, count, rows, cols)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_images_and_labels_round_trip(tmp_path: Path, suffix: str) -> None:
    images = _images(7)
    labels = np.arange(7, dtype=np.uint8)
    write_idx_images(tmp_path / f"img{suffix}", images)
    write_idx_labels(tmp_path / f"lab{suffix}", labels)

    read_images, read_labels = read_idx_pair(tmp_path / f"img{suffix}", tmp_path / f"lab{suffix}")

    assert read_images.dtype == np.uint8 and read_images.shape == (7, 28, 28)
    assert read_images.flags.c_contiguous and read_images.flags.writeable
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_written_file_has_the_standard_layout(tmp_path: Path) -> None:
    images = _images(2)
    write_idx_images(tmp_path / "img", images)
    data = (tmp_path / "img").read_bytes()
    assert data[:16] == _image_header(2)
    assert data[16:] == images.tobytes()


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    images = _images(3)
    path = _write_raw(tmp_path / "images-no-suffix", _image_header(3) + images.tobytes(), compress=True)
    np.testing.assert_array_equal(read_idx_images(path), images)


def test_wrong_magic_number_is_named(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "notes.txt", b"hello, this is not an IDX file at all")
    with pytest.raises(DataFileError, match=r"not an IDX image file \(magic number 0x68656c6c") as caught:
        read_idx_images(path)
    assert str(path) in str(caught.value) and "intact copy" in str(caught.value)


def test_label_file_read_as_images_says_swapped(tmp_path: Path) -> None:
    write_idx_labels(tmp_path / "labels", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataFileError, match="is an IDX label file, not an IDX image file.*swapped"):
        read_idx_images(tmp_path / "labels")
    write_idx_images(tmp_path / "images", _images(3))
    with pytest.raises(DataFileError, match="is an IDX image file, not an IDX label file"):
        read_idx_labels(tmp_path / "images")


def test_non_byte_data_type_is_named(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "floats", _image_header(1, magic=0x00000D03) + bytes(784 * 4))
    with pytest.raises(DataFileError, match=r"type 0x0d; VAE Studio reads unsigned-byte \(0x08\)"):
        read_idx_images(path)


def test_wrong_image_size_is_named(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "big", _image_header(2, 32, 32) + bytes(2 * 32 * 32))
    with pytest.raises(DataFileError, match=r"holds 32x32 images, but VAE Studio needs 28x28") as caught:
        read_idx_images(path)
    assert "images:<folder>" in str(caught.value)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_file_is_named(tmp_path: Path, compress: bool) -> None:
    data = _image_header(5) + _images(5).tobytes()
    path = _write_raw(tmp_path / "cut", data[:-100], compress)
    with pytest.raises(DataFileError, match=r"is truncated: its header announces 5 images .*4 complete images"):
        read_idx_images(path)


@pytest.mark.parametrize("compress", [False, True])
def test_huge_claimed_count_fails_without_allocating(tmp_path: Path, compress: bool) -> None:
    path = _write_raw(tmp_path / "liar", _image_header(10**9) + _images(3).tobytes(), compress)
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="its header claims 1,000,000,000 images .* more than this machine"):
            read_idx_images(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_cut_gzip_stream_is_named(tmp_path: Path) -> None:
    compressed = gzip.compress(_image_header(50) + _images(50).tobytes())
    path = _write_raw(tmp_path / "cut.gz", compressed[: len(compressed) // 2])
    with pytest.raises(DataFileError, match="gzip data is damaged or cut short") as caught:
        read_idx_images(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("compress", [False, True])
def test_data_after_the_last_item_is_named(tmp_path: Path, compress: bool) -> None:
    path = _write_raw(tmp_path / "long", struct.pack(">II", 0x00000801, 3) + bytes(4), compress)
    with pytest.raises(DataFileError, match="has data after its last label: the header announces 3 labels"):
        read_idx_labels(path)


def test_too_short_and_cut_header_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="only 2 bytes long, too short for an IDX file"):
        read_idx_labels(_write_raw(tmp_path / "tiny", b"\x00\x00"))
    with pytest.raises(DataFileError, match="the IDX header is cut short"):
        read_idx_images(_write_raw(tmp_path / "header", _image_header(1)[:10]))


def test_count_mismatch_names_both_files(tmp_path: Path) -> None:
    write_idx_images(tmp_path / "images", _images(4))
    write_idx_labels(tmp_path / "labels", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"holds 4 images but .*labels holds 3 labels") as caught:
        read_idx_pair(tmp_path / "images", tmp_path / "labels")
    assert str(tmp_path / "images") in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nothing-here: file not found"):
        read_idx_images(tmp_path / "nothing-here")


def test_writers_refuse_wrong_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\), got \(2, 27, 28\)"):
        write_idx_images(tmp_path / "x", np.zeros((2, 27, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels with values 0-255, got values from -1 to 3"):
        write_idx_labels(tmp_path / "y", np.array([-1, 3]))
    with pytest.raises(ValueError, match=r"integer images with values 0-255, got dtype float32"):
        write_idx_images(tmp_path / "z", np.zeros((1, 28, 28), dtype=np.float32))


def test_writers_accept_other_integer_types(tmp_path: Path) -> None:
    write_idx_labels(tmp_path / "labels", np.array([0, 9, 255], dtype=np.int64))
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "labels"), [0, 9, 255])
