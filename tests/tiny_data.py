"""Tiny, seeded synthetic data for tests: fast, and no dataset download needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaestudio.core.data.datasets import DatasetSplits, ImageDataset
from vaestudio.core.data.fetching import list_datasets
from vaestudio.core.data.idx import write_idx_images, write_idx_labels


def make_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 28x28 'digits': a bright bar whose position depends on the label, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count)
    images = rng.integers(0, 40, size=(count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        row = 3 + 2 * int(label)
        images[index, row:row + 3, 4:24] = 230
    return images, labels.astype(np.int64)


def tiny_splits(train: int = 256, test: int = 64) -> DatasetSplits:
    names = [str(digit) for digit in range(10)]
    x_train, y_train = make_digits(train, seed=0)
    x_test, y_test = make_digits(test, seed=1)
    return DatasetSplits(
        ImageDataset("tiny", "train", torch.from_numpy(x_train), torch.from_numpy(y_train), names),
        ImageDataset("tiny", "test", torch.from_numpy(x_test), torch.from_numpy(y_test), names),
    )


def write_idx_folder(folder, train: int = 256, test: int = 64) -> None:
    """The tiny data as the four MNIST-format files, for `idx:<folder>` specs."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", train, 0), ("t10k", test, 1)):
        images, labels = make_digits(count, seed)
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte", labels)


def find_mnist() -> str | None:
    """The folder holding MNIST/raw/ among the folders VAE Studio searches for datasets, or None.

    Those are $VAESTUDIO_DATA_DIR and the user data folder (where `vaestudio data fetch mnist`
    puts it), so a copy fetched by VAE Studio itself is found too.
    """
    mnist = next(info for info in list_datasets() if info.name == "mnist")
    return str(mnist.location) if mnist.available else None


# Looked up once, at collection: the tests' fixtures point VAESTUDIO_HOME at temporary folders.
MNIST_DIR = find_mnist()
needs_mnist = pytest.mark.skipif(MNIST_DIR is None, reason="needs MNIST: set VAESTUDIO_DATA_DIR to a folder holding "
                                 "MNIST/raw/, or run `vaestudio data fetch mnist`")
