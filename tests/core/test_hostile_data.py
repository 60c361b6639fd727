"""Hostile and broken data: IDX files that lie, gzip bombs, a seeded fuzz of IDX files, image folders with
everything wrong in them. Each gives our own error with bounded memory; `data fetch` writes where it says."""

from __future__ import annotations

import gzip
import os
import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image
from tiny_data import make_digits, write_idx_folder

from vaestudio.core.data import idx
from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.data.fetching import fetch_dataset
from vaestudio.core.data.idx import (
    read_idx_images,
    read_idx_pair,
    write_idx_images,
    write_idx_labels,
)
from vaestudio.core.errors import DataFileError, DatasetError, VaeStudioError


def _gzip_stream(path: Path, header: bytes, zero_bytes: int) -> Path:
    """A gzip file: `header`, then `zero_bytes` zeros, compressed as it is written (the file stays small)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as handle:
        handle.write(compressor.compress(header))
        block = bytes(1 << 20)
        handle.writelines(compressor.compress(block) for _ in range(zero_bytes >> 20))
        handle.write(compressor.flush())
    return path


def _peak_while(function) -> int:
    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_gzip_claiming_2_to_the_32_images_is_refused_before_inflating(tmp_path):
    bomb = _gzip_stream(tmp_path / "bomb-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, 2**32 - 1, 28, 28),
                        64 << 20)
    assert bomb.stat().st_size < 1 << 20

    def read():
        with pytest.raises(DataFileError, match="its header claims 4,294,967,295 images .* more than this machine"):
            read_idx_images(bomb)

    assert _peak_while(read) < 8 << 20


def test_a_claim_the_machine_cannot_hold_is_refused(tmp_path, monkeypatch):
    images, _ = make_digits(200)
    write_idx_images(tmp_path / "images.gz", images)
    monkeypatch.setattr(idx, "available_memory", lambda: 200_000)  # 100 kB usable: the 157 kB claimed is too much
    with pytest.raises(DataFileError, match="claims 200 images \\(0.0 GB\\), more than this machine can hold"):
        read_idx_images(tmp_path / "images.gz")
    monkeypatch.setattr(idx, "available_memory", lambda: None)  # unknown: the claim is read, bounded by the data
    assert read_idx_images(tmp_path / "images.gz").shape == (200, 28, 28)


def test_a_gzip_that_inflates_far_beyond_its_claim_stops_at_the_claim(tmp_path):
    bomb = _gzip_stream(tmp_path / "labels.gz", struct.pack(">II", 0x801, 10) + bytes(10), 64 << 20)

    def read():
        with pytest.raises(DataFileError, match="has data after its last label"):
            idx.read_idx_labels(bomb)

    assert _peak_while(read) < 8 << 20


def _write_named(raw: Path, labels_max: int = 9) -> None:
    raw.mkdir(parents=True)
    for prefix, count in (("train", 20), ("t10k", 10)):
        images, labels = make_digits(count)
        labels[0] = labels_max
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)


def test_labels_beyond_a_named_datasets_classes_are_refused(tmp_path):
    _write_named(tmp_path / "MNIST" / "raw", labels_max=200)
    with pytest.raises(DataFileError, match="holds the label 200, but MNIST has 10 classes .*vaestudio data fetch"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_an_idx_folder_with_counts_that_differ_is_refused(tmp_path):
    write_idx_folder(tmp_path / "d", train=20, test=10)
    images, _ = make_digits(21)
    write_idx_images(tmp_path / "d" / "train-images-idx3-ubyte", images)
    with pytest.raises(DataFileError, match="holds 21 images but .* holds 20 labels"):
        load_dataset(f"idx:{tmp_path / 'd'}", download=False)


FUZZ_ROUNDS = 600


def test_a_seeded_fuzz_of_idx_files_raises_only_our_errors(tmp_path):
    """600 random mutations of a valid image/label pair (bytes flipped, cut, grown, header fields rewritten,
    gzipped or not): each reads or fails with one of our error types."""
    images, labels = make_digits(12)
    write_idx_images(tmp_path / "images", images)
    write_idx_labels(tmp_path / "labels", labels)
    originals = {"images": (tmp_path / "images").read_bytes(), "labels": (tmp_path / "labels").read_bytes()}
    generator = random.Random(20261202)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(FUZZ_ROUNDS):
        target = generator.choice(["images", "labels"])
        data = bytearray(originals[target])
        for _ in range(generator.randint(1, 4)):
            action = generator.randrange(5)
            if action == 0 and data:
                data[generator.randrange(len(data))] = generator.randrange(256)
            elif action == 1:
                del data[generator.randrange(len(data) + 1):]
            elif action == 2:
                data += os.urandom(generator.randint(1, 2000))
            elif action == 3 and len(data) >= 8:
                field = generator.randrange(0, min(len(data), 16) - 3, 4) if len(data) >= 4 else 0
                data[field:field + 4] = struct.pack(">I", generator.choice([0, 1, 2**31, 2**32 - 1,
                                                                            generator.randrange(2**32)]))
            else:
                data[:4] = generator.choice([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x0d\x03", b"PK\x03\x04"])
        if generator.random() < 0.3:
            data = bytearray(gzip.compress(bytes(data), compresslevel=1))
            if generator.random() < 0.3:
                del data[generator.randrange(len(data)):]
        mutated = {**originals, target: bytes(data)}
        for name, content in mutated.items():
            (tmp_path / f"fuzz-{name}").write_bytes(content)
        try:
            read_idx_pair(tmp_path / "fuzz-images", tmp_path / "fuzz-labels")
            outcomes["read"] += 1
        except VaeStudioError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > FUZZ_ROUNDS // 2 and sum(outcomes.values()) == FUZZ_ROUNDS


# --- image folders ---

def _png(path: Path, size=(28, 28), mode="L", value=128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode in ("L", "I", "F", "1", "I;16") else (value,) * len(mode)).save(path)
    return path


def _folder_with_two_classes(root: Path) -> Path:
    for name in ("a", "b"):
        for index in range(3):
            _png(root / name / f"{index}.png")
    return root


def test_non_image_files_are_skipped_and_mixed_sizes_and_modes_are_read(tmp_path):
    root = _folder_with_two_classes(tmp_path / "images")
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "a" / "Thumbs.db").write_bytes(b"\0" * 100)
    (root / "a" / ".hidden.png").write_bytes(b"garbage")
    _png(root / "a" / "big-rgb.png", (300, 200), "RGB")
    _png(root / "b" / "rgba.png", (10, 40), "RGBA")
    _png(root / "b" / "palette.png", (28, 28), "P")
    _png(root / "b" / "bilevel.png", (28, 28), "1", 1)
    _png(root / "b" / "sixteen-bit.png", (28, 28), "I;16", 1000)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(root / "b" / "photo.jpg")
    splits = load_dataset(f"images:{root}", download=False)
    assert len(splits.train) + len(splits.test) == 12
    assert splits.train.images.shape[1:] == (28, 28, 3)  # any colour picture makes the dataset colour


def test_unicode_class_and_file_names(tmp_path):
    root = tmp_path / "données"
    for name in ("chat-é", "数字"):
        for index in range(3):
            _png(root / name / f"image-ü-{index}.png")
    splits = load_dataset(f"images:{root}", download=False)
    assert splits.train.class_names == ["chat-é", "数字"]


@pytest.mark.parametrize("content, message", [
    (b"", "cannot be read as an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cannot be read as an image"),
    ("cut", "cannot be read as an image"),
])
def test_corrupt_images_are_named(tmp_path, content, message):
    root = _folder_with_two_classes(tmp_path / "images")
    bad = root / "a" / "bad.png"
    if content == "cut":
        _png(bad, (200, 200), "RGB")
        content = bad.read_bytes()[:300]
    bad.write_bytes(content)
    with pytest.raises(DataFileError, match=f"bad.png: {message}"):
        load_dataset(f"images:{root}", download=False)


def _bomb_png(path: Path, side: int) -> Path:
    """A valid PNG of side x side black pixels: a few hundred kB on disk, side^2 bytes once decoded."""
    raw = zlib.compress(b"".join(b"\0" + bytes(side // 8) for _ in range(side)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [20_000, 8_000])  # 400 MP (past Pillow's own limit) and 64 MP (past ours)
def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, side):
    root = _folder_with_two_classes(tmp_path / "images")
    _bomb_png(root / "a" / "bomb.png", side)

    def read():
        with pytest.raises(DataFileError, match="bomb.png: (is 8,000 x 8,000 pixels, more than the 50 megapixels"
                                                "|refused as a possible decompression bomb)"):
            load_dataset(f"images:{root}", download=False)

    assert _peak_while(read) < 32 << 20


def test_pillows_limit_is_put_back_on(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    root = _folder_with_two_classes(tmp_path / "images")
    load_dataset(f"images:{root}", download=False)
    assert Image.MAX_IMAGE_PIXELS


def test_an_empty_class_folder_is_named(tmp_path):
    root = _folder_with_two_classes(tmp_path / "images")
    (root / "empty").mkdir()
    with pytest.raises(DatasetError, match="class folder .*empty holds no PNG or JPEG images"):
        load_dataset(f"images:{root}", download=False)


def test_symlink_loops_are_harmless(tmp_path):
    root = _folder_with_two_classes(tmp_path / "images")
    os.symlink(root / "a" / "self.png", root / "a" / "self.png")  # a link to itself
    os.symlink(root / "loop", root / "loop")  # a folder link to itself
    splits = load_dataset(f"images:{root}", download=False)
    assert splits.train.class_names == ["a", "b"]
    os.symlink(root, root / "b" / "up")  # a class folder with a link back to the root: not an image, skipped
    assert load_dataset(f"images:{root}", download=False).train.class_names == ["a", "b"]


def test_an_unreadable_folder_is_our_error(tmp_path, monkeypatch):
    root = _folder_with_two_classes(tmp_path / "images")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(DatasetError, match="cannot be read \\(Permission denied\\)"):
        load_dataset(f"images:{root}", download=False)


# --- where data fetch writes ---

def test_fetch_writes_into_vaestudio_data_dir(tmp_path, monkeypatch):
    import torchvision.datasets

    written = []

    def fake_mnist(root: str, train: bool, download: bool) -> None:
        written.append(root)
        _write_named(Path(root) / "MNIST" / "raw")

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "env-data"))
    assert fetch_dataset("mnist") == tmp_path / "env-data"
    assert written == [str(tmp_path / "env-data")]
    assert len(load_dataset("mnist", download=False).train) == 20
