"""Names of the classes of a dataset read from a folder.

Two sources, the first found wins:

- a `classes.txt` in the folder: one name a line, the first line names class 0;
- the published files of a known dataset (Fashion-MNIST, KMNIST), recognised by the MD5 of
  their `.gz` archives. These are the checksums torchvision verifies when it downloads them
  (`torchvision.datasets.FashionMNIST.resources`, `KMNIST.resources`), and torchvision keeps
  the archives beside the files it unpacks. A folder of unpacked files only is not
  recognised (no published checksum of those is known here): give it a `classes.txt`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from vaestudio.core.errors import DataFileError

CLASSES_FILE = "classes.txt"

Role = tuple[str, str]  # (split, kind), e.g. ("train", "labels")

# MD5 of each published archive by role; train labels first: the smallest file, hashed first.
PUBLISHED_ARCHIVES: dict[str, dict[Role, str]] = {
    "fashion-mnist": {
        ("train", "labels"): "25c81989df183df01b3e8a0aad5dffbe",
        ("test", "labels"): "bb300cfdad3c16e7a12a480ee83cd310",
        ("test", "images"): "bef4ecab320f06d8554ea6380940ec79",
        ("train", "images"): "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    "kmnist": {
        ("train", "labels"): "e144d726b3acfaa3e44228e80efcd344",
        ("test", "labels"): "7320c461ea6c1c855c0b718fb2a4b134",
        ("test", "images"): "5c965bf0a639b31b8f53240b1b52f4d7",
        ("train", "images"): "bdb82020997e1d708af4cf47b453dcf7",
    },
}


def read_classes_file(folder: Path) -> list[str] | None:
    """The class names listed in `folder/classes.txt`, or None when there is no such file."""
    path = folder / CLASSES_FILE
    if not path.is_file():
        return None
    fix = "Write one class name a line (the first line names class 0), or remove the file."
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path} cannot be read as UTF-8 text ({error}). {fix}") from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DataFileError(f"{path} is empty. {fix}")
    blank = [number for number, name in enumerate(names, start=1) if not name]
    if blank:
        raise DataFileError(f"{path}: line {blank[0]} is empty. {fix}")
    return names


def names_for_labels(names: list[str], label_values: list[int], source: Path) -> list[str]:
    """The names of the label values present (sorted), checking that `names` covers them all."""
    highest = max(label_values, default=-1)
    if highest >= len(names):
        raise DataFileError(f"{source} names {len(names)} classes but the labels go up to {highest}: write a name "
                            f"for each label from 0 to {highest}, one a line.")
    return [names[value] for value in label_values]


def _md5(path: Path) -> str | None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _archive_of(path: Path) -> Path:
    """The `.gz` file itself, or the archive torchvision leaves beside the file it unpacked."""
    return path if path.name.lower().endswith(".gz") else path.with_name(path.name + ".gz")


def recognise_published_files(files: dict[Role, Path]) -> str | None:
    """The named dataset whose four published archives these IDX files are (or sit beside), if any."""
    hashes: dict[Role, str | None] = {}

    def archive_md5(role: Role) -> str | None:
        if role not in hashes:
            hashes[role] = _md5(_archive_of(files[role])) if role in files else None
        return hashes[role]

    for name, archives in PUBLISHED_ARCHIVES.items():
        if all(archive_md5(role) == md5 for role, md5 in archives.items()):
            return name
    return None
