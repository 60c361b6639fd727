"""A folder a person picks, as a dataset: one classifier for the Run form and the explorer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tiny_data import write_idx_folder

from vaestudio.core.data.folders import (
    classify_folder,
    dataset_in_folder,
    named_datasets_in,
)
from vaestudio.core.errors import DatasetError


def _class_folders(folder, names=("cat", "dog")):
    for label in names:
        (folder / label).mkdir(parents=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / label / "1.png")
    return folder


def test_idx_files_and_class_folders_become_specs(tmp_path):
    idx = tmp_path / "idx"
    write_idx_folder(idx, train=20, test=10)
    assert classify_folder(idx) == f"idx:{idx}"
    images = _class_folders(tmp_path / "images")
    assert classify_folder(images) == f"images:{images}"
    split = tmp_path / "split"
    _class_folders(split / "train")
    _class_folders(split / "test")
    assert classify_folder(str(split)) == f"images:{split}"


def test_a_folder_that_is_no_dataset_says_what_it_lacks(tmp_path):
    idx = tmp_path / "idx"
    write_idx_folder(idx, train=20, test=10)
    (idx / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match=r"only some of the four IDX files \(t10k-images"):
        classify_folder(idx)
    with pytest.raises(DatasetError, match="not a folder"):
        classify_folder(tmp_path / "missing")
    empty_classes = tmp_path / "photos"
    (empty_classes / "cat").mkdir(parents=True)
    (empty_classes / "cat" / "notes.txt").write_text("no images")
    with pytest.raises(DatasetError, match="neither the four MNIST-format IDX files nor class sub-folders"):
        classify_folder(empty_classes)


def test_a_data_root_in_torchvisions_layout_reads_a_named_dataset_from_there(tmp_path):
    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    (root / "FashionMNIST" / "raw").mkdir(parents=True)
    assert named_datasets_in(root) == ["mnist", "fashion-mnist"]
    assert dataset_in_folder(root, "fashion-mnist") == ("fashion-mnist", str(root))
    assert dataset_in_folder(root, "kmnist") == ("mnist", str(root))
    with pytest.raises(DatasetError, match="neither the four"):
        classify_folder(root)  # the Run form trains on idx:/images: folders only
    images = _class_folders(tmp_path / "images")
    assert dataset_in_folder(images) == (f"images:{images}", None)
    idx = tmp_path / "idx"
    write_idx_folder(idx, train=20, test=10)
    assert dataset_in_folder(idx, "mnist") == (f"idx:{idx}", None)
