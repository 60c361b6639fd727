"""What a folder a person picked holds, as a dataset: IDX files, class folders of images, or a data root.

The Run form and the latent explorer both ask here, so a folder means the same thing in both.
"""

from __future__ import annotations

from pathlib import Path

from vaestudio.core.data.catalogue import NAMED_DATASETS, find_idx_files
from vaestudio.core.data.image_folders import IMAGE_SUFFIXES
from vaestudio.core.errors import DatasetError

IDX_FILE_COUNT = 4  # training and test images and labels


def _has_class_folders(folder: Path) -> bool:
    """Whether `folder` (or its train/ split) holds a sub-folder with at least one PNG or JPEG image."""
    roots = [folder / "train", folder / "test"] if (folder / "train").is_dir() else [folder]
    for root in roots:
        for child in (c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")):
            if any(f.suffix.lower() in IMAGE_SUFFIXES for f in child.iterdir() if f.is_file()):
                return True
    return False


def classify_folder(folder: str | Path) -> str:
    """The dataset spec of a folder: `idx:<folder>` for the four IDX files, `images:<folder>` for class folders.

    Raises DatasetError saying what the folder lacks when it is neither (or holds only some IDX files).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder. Choose the folder that holds the dataset.")
    idx_files = find_idx_files(folder)
    if len(idx_files) == IDX_FILE_COUNT:
        return f"idx:{folder}"
    if idx_files:
        found = ", ".join(sorted(path.name for path in idx_files.values()))
        raise DatasetError(f"{folder} holds only some of the four IDX files ({found}). Add the missing training or "
                           "test images/labels files (e.g. t10k-images-idx3-ubyte) and open the folder again.")
    if _has_class_folders(folder):
        return f"images:{folder}"
    raise DatasetError(f"{folder} holds neither the four MNIST-format IDX files nor class sub-folders of PNG or JPEG "
                       "images. Choose a folder with train-images-idx3-ubyte and its three companions, or one "
                       "sub-folder of images per class (e.g. cats/1.png, dogs/1.png).")


def named_datasets_in(folder: str | Path) -> list[str]:
    """The named datasets a data root holds in torchvision's layout (`<folder>/MNIST/raw`, …)."""
    folder = Path(folder)
    return [name for name, entry in NAMED_DATASETS.items() if (folder / entry.folder / "raw").is_dir()]


def dataset_in_folder(folder: str | Path, preferred: str | None = None) -> tuple[str, str | None]:
    """How to read a folder: (dataset spec, data_dir), data roots included.

    Four IDX files come first; then a data root in torchvision's layout gives a named dataset
    read from there (`preferred` when the root holds it); otherwise `classify_folder` decides.
    """
    folder = Path(folder)
    if len(find_idx_files(folder)) == IDX_FILE_COUNT:
        return f"idx:{folder}", None
    present = named_datasets_in(folder)
    if present:
        return (preferred if preferred in present else present[0]), str(folder)
    return classify_folder(folder), None
