"""Class names of datasets read from folders: classes.txt, or the published files of Fashion-MNIST and KMNIST."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_data import make_digits, write_idx_folder

from vaestudio.cli.main import main
from vaestudio.core.data import class_names
from vaestudio.core.data.catalogue import NAMED_DATASETS
from vaestudio.core.data.datasets import load_dataset, load_split
from vaestudio.core.data.idx import write_idx_images, write_idx_labels
from vaestudio.core.errors import DataFileError
from vaestudio.core.models.model_files import load_model

FASHION = list(NAMED_DATASETS["fashion-mnist"].class_names)
STANDARD_NAMES = {("train", "images"): "train-images-idx3-ubyte", ("train", "labels"): "train-labels-idx1-ubyte",
                  ("test", "images"): "t10k-images-idx3-ubyte", ("test", "labels"): "t10k-labels-idx1-ubyte"}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_archives(folder: Path) -> dict[tuple[str, str], str]:
    """A `.gz` beside each unpacked file, as torchvision leaves them; returns their MD5s by role."""
    hashes = {}
    for role, name in STANDARD_NAMES.items():
        archive = folder / f"{name}.gz"
        archive.write_bytes(b"published archive of " + name.encode())
        hashes[role] = md5(archive)
    return hashes


def test_classes_txt_names_the_idx_labels(tmp_path: Path) -> None:
    write_idx_folder(tmp_path, train=40, test=20)
    (tmp_path / "classes.txt").write_text("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n\n")
    splits = load_dataset(f"idx:{tmp_path}")
    assert splits.train.class_names == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert splits.test.class_names == splits.train.class_names


def test_classes_txt_follows_label_values_with_gaps(tmp_path: Path) -> None:
    for prefix, count in (("train", 6), ("t10k", 3)):
        write_idx_images(tmp_path / f"{prefix}-images-idx3-ubyte", np.zeros((count, 28, 28), np.uint8))
        write_idx_labels(tmp_path / f"{prefix}-labels-idx1-ubyte", np.array([1, 3] * count)[:count])
    (tmp_path / "classes.txt").write_text("a\nb\nc\nd\n", encoding="utf-8")
    splits = load_dataset(f"idx:{tmp_path}")
    assert splits.train.class_names == ["b", "d"] and splits.train.labels.tolist() == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("text, message", [
    ("a\nb\n", r"classes.txt names 2 classes but the labels go up to 9: write a name for each label from 0 to 9"),
    ("a\n\nc\nd\ne\nf\ng\nh\ni\nj\n", r"classes.txt: line 2 is empty"),
    ("\n\n", r"classes.txt is empty"),
])
def test_a_wrong_classes_txt_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    write_idx_folder(tmp_path, train=40, test=20)
    (tmp_path / "classes.txt").write_text(text)
    with pytest.raises(DataFileError, match=message):
        load_dataset(f"idx:{tmp_path}")


def test_classes_txt_names_image_class_folders(tmp_path: Path) -> None:
    for folder, value in (("0", 10), ("1", 200)):
        for index in range(3):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.new("L", (28, 28), value).save(tmp_path / folder / f"{index}.png")
    assert load_dataset(f"images:{tmp_path}").train.class_names == ["0", "1"]
    (tmp_path / "classes.txt").write_text("dark\nbright\n")
    assert load_split(f"images:{tmp_path}", "test").class_names == ["dark", "bright"]
    (tmp_path / "classes.txt").write_text("dark\nbright\nextra\n")
    with pytest.raises(DataFileError, match=r"names 3 classes but .* has 2 class folders \(0, 1\)"):
        load_dataset(f"images:{tmp_path}")


def test_published_archives_beside_the_files_are_recognised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_folder(tmp_path, train=40, test=20)
    monkeypatch.setitem(class_names.PUBLISHED_ARCHIVES, "fashion-mnist", write_archives(tmp_path))
    assert load_dataset(f"idx:{tmp_path}").train.class_names == FASHION
    assert load_split(f"idx:{tmp_path}", "test").class_names == FASHION

    (tmp_path / "classes.txt").write_text("\n".join(str(d) for d in range(10)))  # a classes.txt comes first
    assert load_dataset(f"idx:{tmp_path}").train.class_names == [str(d) for d in range(10)]
    (tmp_path / "classes.txt").unlink()

    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"another file")  # one archive differs: not recognised
    assert load_dataset(f"idx:{tmp_path}").train.class_names == [str(d) for d in range(10)]


def test_published_gz_files_read_directly_are_recognised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix, count, seed in (("train", 40, 0), ("t10k", 20, 1)):
        images, labels = make_digits(count, seed)
        write_idx_images(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx_labels(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    hashes = {role: md5(tmp_path / f"{name}.gz") for role, name in STANDARD_NAMES.items()}
    assert load_dataset(f"idx:{tmp_path}").train.class_names == [str(d) for d in range(10)]
    monkeypatch.setitem(class_names.PUBLISHED_ARCHIVES, "kmnist", hashes)
    assert load_dataset(f"idx:{tmp_path}").train.class_names == list(NAMED_DATASETS["kmnist"].class_names)


def test_the_table_holds_the_checksums_torchvision_verifies() -> None:
    import torchvision.datasets

    for name, dataset in (("fashion-mnist", torchvision.datasets.FashionMNIST), ("kmnist", torchvision.datasets.KMNIST)):
        published = {STANDARD_NAMES[role] + ".gz": md5sum for role, md5sum in class_names.PUBLISHED_ARCHIVES[name].items()}
        assert published == dict(dataset.resources)


def test_names_travel_from_the_folder_into_the_model_file(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "digits", train=64, test=32)
    names = [f"class {d}" for d in range(10)]
    (tmp_path / "digits" / "classes.txt").write_text("\n".join(names) + "\n")
    out = tmp_path / "model.safetensors"
    assert main(["train", "--dataset", f"idx:{tmp_path / 'digits'}", "--epochs", "1", "--latent-dim", "2",
                 "--hidden", "8", "--device", "cpu", "--out", str(out)]) == 0
    assert load_model(out).class_names == names
