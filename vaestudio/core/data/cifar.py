"""CIFAR-10 in torchvision's layout: `<dir>/cifar-10-batches-py/` with five training batches and a test batch.

The batches are Python pickles (a dict of b"data": uint8 (N, 3072) in channel-major order and
b"labels": a list of ints). They are read with `ArrayOnlyUnpickler`, which builds arrays, lists,
dicts, strings and numbers and refuses every other global, never with plain `pickle.load`.
The download goes through torchvision's archive helper only (its CIFAR10 class would unpickle
the batches itself).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vaestudio.core.data.safe_pickle import ArrayOnlyUnpickler
from vaestudio.core.errors import DataFileError

Progress = Callable[[str, "float | None"], None]

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCHES = ("test_batch",)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIDE = 32
_ADVICE = "Delete the cifar-10-batches-py folder and fetch CIFAR-10 again (`vaestudio data fetch cifar10`)."


def has_cifar(root: Path) -> bool:
    folder = root / FOLDER
    return all((folder / name).is_file() for name in TRAIN_BATCHES + TEST_BATCHES)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as uint8 images (N, 32, 32, 3) and int64 labels."""
    try:
        with path.open("rb") as stream:
            content = ArrayOnlyUnpickler(stream, path, what="a CIFAR-10 batch", advice=_ADVICE,
                                         encoding="bytes").load()
    except DataFileError:
        raise
    except Exception as error:  # noqa: BLE001 (a damaged pickle raises many kinds)
        raise DataFileError(f"{path}: cannot be read as a CIFAR-10 batch ({type(error).__name__}: {error}). "
                            f"{_ADVICE}") from None
    if not isinstance(content, dict):
        raise DataFileError(f"{path}: holds a {type(content).__name__}, not a CIFAR-10 batch. {_ADVICE}")
    data = content.get(b"data", content.get("data"))
    labels = content.get(b"labels", content.get("labels"))
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3 * SIDE * SIDE or not isinstance(labels, (list, np.ndarray))
            or len(labels) != len(data)):
        raise DataFileError(f"{path}: does not hold uint8 data (N, 3072) with N labels. {_ADVICE}")
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.size and (label_array.min() < 0 or label_array.max() >= len(CLASS_NAMES)):
        raise DataFileError(f"{path}: has labels outside 0-9. {_ADVICE}")
    images = np.ascontiguousarray(data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))
    return images, label_array


def read_cifar_split(root: Path, split: str, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training (50,000) or test (10,000) images of the copy in `root/cifar-10-batches-py/`."""
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    parts = []
    for index, name in enumerate(names):
        if progress is not None:
            progress(f"Reading CIFAR-10 {split} batch {index + 1} of {len(names)}", index / len(names))
        parts.append(read_batch(root / FOLDER / name))
    return np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])


def download_cifar(root: Path) -> None:
    """Download and unpack torchvision's CIFAR-10 archive into `root` (checked against its MD5)."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
