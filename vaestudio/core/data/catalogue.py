"""What datasets there are and how they are named: the named datasets (MNIST and its relatives), the
generated ones (CIFAR-10, shapes), the spec strings (`mnist`, `idx:<folder>`, `images:<folder>`) and
the file names of an IDX folder. Finding them on disk and fetching them is `fetching.py`; reading
them is `datasets.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vaestudio.core.errors import DatasetError

Progress = Callable[[str, "float | None"], None]


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
FILE_ROLES = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))


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


def report_progress(progress: Progress | None, message: str, fraction: float | None) -> None:
    if progress is not None:
        progress(message, fraction)
