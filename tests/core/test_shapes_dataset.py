"""The built-in shapes dataset, CIFAR-10's pickled batches, and the conv VAE trained on shapes."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vaestudio.cli.main import main
from vaestudio.core.data import cifar, shapes
from vaestudio.core.data.datasets import load_dataset, load_split
from vaestudio.core.data.factors import Factors, dimension_factors, factor_correlations
from vaestudio.core.data.fetching import list_datasets
from vaestudio.core.errors import ConfigError, DataFileError, DatasetError
from vaestudio.core.models.history import EpochResult
from vaestudio.core.models.networks import ConvVAE, ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.evaluation import evaluate
from vaestudio.core.training.trainer import Trainer


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = shapes.make_shapes(tmp_path / "a", size=32, seed=3, count=40).folder
    second = shapes.make_shapes(tmp_path / "b", size=32, seed=3, count=40).folder
    other = shapes.make_shapes(tmp_path / "c", size=32, seed=4, count=40).folder
    assert _digests(first) == _digests(second)
    assert _digests(first)["train-images.npy"] != _digests(other)["train-images.npy"]
    assert sorted(_digests(first)) == ["shapes.json", "test-factors.npy", "test-images.npy", "train-factors.npy",
                                       "train-images.npy"]


def test_shapes_load_with_their_factors(tmp_path: Path) -> None:
    shapes.make_shapes(tmp_path, size=64, seed=1, count=50)
    splits = load_dataset("shapes", data_dir=tmp_path, download=False)
    train, test = splits.train, splits.test
    assert (len(train), len(test)) == (45, 5)
    assert train.images.shape == (45, 64, 64, 3) and train.images.dtype == torch.uint8
    assert train.class_names == ["square", "ellipse", "heart"]
    assert train.factors.names == ["shape", "colour", "scale", "rotation", "x", "y"]
    assert train.factors.levels["colour"] == list(shapes.COLOUR_NAMES)
    assert np.array_equal(train.labels.numpy(), train.factors.column("shape").astype(np.int64))
    # the drawn colour is the factor's: the brightest pixel of each image has its palette colour
    for index in range(5):
        image = train.images[index].numpy().reshape(-1, 3).astype(int)
        brightest = image[np.argmax(image.sum(axis=1))]
        expected = shapes.COLOURS[shapes.COLOUR_NAMES[int(train.factors.column("colour")[index])]]
        assert np.abs(brightest - np.array(expected)).max() <= 1
    assert train.subset(3).factors.values.shape == (3, 6)
    small = load_split("shapes", "test", data_dir=tmp_path, download=False, image_size=32, channels=1)
    assert small.images.shape == (5, 32, 32) and small.factors is not None
    assert any(info.name == "shapes" and info.available for info in list_datasets(tmp_path))


def test_shape_position_follows_the_x_and_y_factors() -> None:
    factors = np.array([[0, 0, 1.0, 0.0, 0.0, 0.0], [0, 0, 1.0, 0.0, 1.0, 1.0]], np.float32)
    images = shapes.render_shapes(factors, 64).astype(int).sum(axis=3)
    rows, columns = np.nonzero(images[0] > 200)
    assert rows.mean() < 32 and columns.mean() < 32  # x = y = 0: top left
    rows, columns = np.nonzero(images[1] > 200)
    assert rows.mean() > 32 and columns.mean() > 32


def test_cli_makes_shapes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "make", "shapes", "--size", "32", "--count", "20", "--seed", "2",
                 "--data-dir", str(tmp_path)]) == 0
    assert "Made 20 shapes at 32x32 (seed 2)" in capsys.readouterr().out
    assert np.load(tmp_path / "shapes" / "train-images.npy").shape == (18, 32, 32, 3)
    assert main(["data", "make", "shapes", "--count", "3", "--data-dir", str(tmp_path)]) == 2
    assert "Make between 10 and 1,000,000 shapes (got 3)" in capsys.readouterr().err


def test_damaged_shapes_files_are_named(tmp_path: Path) -> None:
    folder = shapes.make_shapes(tmp_path, size=28, count=10).folder
    np.save(folder / "train-images.npy", np.zeros((9, 28, 28), np.float32))
    with pytest.raises(DataFileError, match=r"train-images.npy: holds float32 of 3 dimensions.*make shapes"):
        load_dataset("shapes", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="Shapes can be made at 28, 32, 64 pixels, not 48"):
        shapes.make_shapes(tmp_path, size=48)


def test_factor_correlations_find_the_dimension_that_follows_a_factor() -> None:
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.integers(0, 3, 500), rng.uniform(0, 1, 500)]).astype(np.float32)
    factors = Factors(["shape", "x"], values, {"shape": ["a", "b", "c"]})
    latents = np.column_stack([rng.normal(size=500), values[:, 1] * 3 + rng.normal(0, 0.1, 500),
                               (values[:, 0] == 2) + rng.normal(0, 0.1, 500)])
    correlations = factor_correlations(factors, latents)
    assert correlations.shape == (3, 2) and correlations[1, 1] > 0.9 and correlations[2, 0] > 0.9
    assert dimension_factors(factors, latents) == ["", "x", "shape"]


def test_conv_vae_on_64x64_shapes_learns_in_one_short_epoch(tmp_path: Path) -> None:
    shapes.make_shapes(tmp_path, size=64, seed=0, count=330)
    splits = load_dataset("shapes", data_dir=tmp_path, download=False)
    config = TrainingConfig(dataset="shapes", model=ModelConfig("auto", 8, 128), epochs=1, batch_size=16, lr=2e-3)
    trainer = Trainer(config, splits)
    assert isinstance(trainer.model, ConvVAE) and trainer.config.model.image_size == 64
    before = evaluate(trainer.model, trainer.test_images).loss
    records = list(trainer.run())
    losses = [record.loss for record in records if not isinstance(record, EpochResult)]
    result = records[-1]
    assert isinstance(result, EpochResult) and len(losses) == 19
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2])
    assert result.test.loss < 0.8 * before
    assert result.test.dimensions == 64 * 64 * 3


# CIFAR-10's pickled batches


def _write_batch(path: Path, count: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    labels = [int(value) for value in rng.integers(0, 10, count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump({b"batch_label": b"fake", b"labels": labels, b"data": data,
                     b"filenames": [b"x.png"] * count}, handle, protocol=3)  # bytes as Python 2's str reads
    return data, labels


def test_cifar_batches_read_without_plain_pickle(tmp_path: Path) -> None:
    folder = tmp_path / cifar.FOLDER
    written = [_write_batch(folder / name, 4, index) for index, name in enumerate(cifar.TRAIN_BATCHES)]
    test_data, test_labels = _write_batch(folder / "test_batch", 3, 9)
    splits = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert splits.train.images.shape == (20, 32, 32, 3) and splits.test.images.shape == (3, 32, 32, 3)
    assert splits.train.class_names[0] == "airplane"
    assert splits.test.labels.tolist() == test_labels
    # channel-major rows become pictures: pixel (r, c) of channel k is data[1024 k + 32 r + c]
    assert int(splits.test.images[1, 2, 5, 1]) == int(test_data[1, 1024 + 32 * 2 + 5])
    assert int(splits.train.images[4, 0, 0, 0]) == int(written[1][0][0, 0])
    gray = load_split("cifar10", "test", data_dir=tmp_path, download=False, channels=1, image_size=28)
    assert gray.images.shape == (3, 28, 28)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_pickle_with_a_malicious_reduce_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / cifar.FOLDER
    for name in cifar.TRAIN_BATCHES + cifar.TEST_BATCHES:
        _write_batch(folder / name, 2, 0)
    with (folder / "data_batch_3").open("wb") as handle:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [_Evil()]}, handle, protocol=3)
    with pytest.raises(DataFileError, match=r"data_batch_3: refers to builtins.print, which a CIFAR-10 batch never "
                       r"needs; it was not loaded because it could run code"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert "this must never run" not in capsys.readouterr().out


def test_cifar_missing_without_download_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"CIFAR-10 could not be found \(downloading was switched off\)"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_shapes_model_sheets_csv_and_eval_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Train a small conv model on 32x32 shapes; its traversal rows name factors, its CSV lists them, eval
    reports bits/dim, and every sheet kind renders colour."""
    import json

    from PIL import Image

    data = tmp_path / "data"
    shapes.make_shapes(data, size=32, count=120, seed=5)
    model = tmp_path / "shapes.safetensors"
    assert main(["train", "--dataset", "shapes", "--epochs", "1", "--latent-dim", "4", "--hidden", "32",
                 "--batch-size", "27", "--data-dir", str(data), "--out", str(model), "--quiet"]) == 0
    out = capsys.readouterr()
    assert "conv VAE" in out.err and "32x32 colour" in out.err and "bits/dim" in out.out
    assert main(["eval", str(model), "--json", "--data-dir", str(data)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model_config"]["image_size"] == 32 and summary["model_config"]["channels"] == 3
    assert summary["bits_per_dim"] == pytest.approx(summary["loss"] / (np.log(2) * 32 * 32 * 3))
    for kind in ("samples", "manifold", "interpolation", "reconstructions", "traversal"):
        path = tmp_path / f"{kind}.png"
        assert main(["sheet", str(model), "--kind", kind, "--out", str(path), "--data-dir", str(data),
                     "--rows", "2", "--cols", "3"]) == 0
        picture = np.asarray(Image.open(path).convert("RGB")).astype(int)
        rows = 4 if kind == "reconstructions" else 2
        assert picture.shape[0] == rows * 34 + 2, kind
        if kind == "reconstructions":  # the originals are the coloured shapes
            assert (np.abs(picture[..., 0] - picture[..., 2]) > 60).any()
        if kind == "traversal":  # a margin on the left for the labels of the rows
            assert picture.shape[1] > 3 * 34 + 2 + 10 and (picture[:, :12] > 150).any()
        else:
            assert picture.shape[1] == 3 * 34 + 2, kind
    traversal = tmp_path / "traversal.gif"
    assert main(["sheet", str(model), "--kind", "traversal", "--out", str(traversal), "--data-dir", str(data)]) == 0
    assert main(["export", str(model), "--table", "encoded", "--out", str(tmp_path / "encoded.csv"), "--data-dir", str(data)]) == 0
    header, first = (tmp_path / "encoded.csv").read_text().splitlines()[:2]
    assert header.endswith("factor_shape,factor_colour,factor_scale,factor_rotation,factor_x,factor_y")
    assert first.split(",")[-6] in shapes.SHAPE_NAMES and first.split(",")[-5] in shapes.COLOUR_NAMES


def test_dataset_titles() -> None:
    from vaestudio.core.data.catalogue import dataset_title

    assert [dataset_title(spec) for spec in ("mnist", "cifar10", "shapes", "images:/data/sprites")] == [
        "MNIST", "CIFAR-10", "Shapes", "sprites"]


def test_factor_groups_levels_and_ranges() -> None:
    from vaestudio.core.data.factors import factor_groups

    values = np.array([[0, 0.0], [2, 0.5], [1, 1.0], [2, 0.26]], np.float32)
    factors = Factors(["shape", "x"], values, {"shape": ["a", "b", "c"]})
    groups, names, ordered = factor_groups(factors, "shape", np.array([3, 0]))
    assert groups.tolist() == [2, 0] and names == ["a", "b", "c"] and not ordered
    groups, names, ordered = factor_groups(factors, "x", bins=4)
    assert groups.tolist() == [0, 2, 3, 1] and ordered and names[0] == "0.00-0.25" and names[3] == "0.75-1.00"


def test_colour_drawing_is_averaged_down_per_channel() -> None:
    from vaestudio.core.latent.reconstruction import colour_drawing_to_image

    picture = np.zeros((128, 128, 3), np.float32)
    picture[:64, :, 0] = 1.0  # the top half red
    image = colour_drawing_to_image(picture, 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert (image[:16, :, 0] == 255).all() and (image[16:] == 0).all() and (image[..., 1:] == 0).all()
    with pytest.raises(ValueError, match="does not divide"):
        colour_drawing_to_image(np.zeros((100, 100, 3), np.float32), 32)


def test_cli_makes_shapes_where_its_help_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    """Without --data-dir: into $VAESTUDIO_DATA_DIR (as `data fetch` does), else the user data folder."""
    monkeypatch.setenv("VAESTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAESTUDIO_DATA_DIR", str(tmp_path / "data"))
    assert main(["data", "make", "shapes", "--size", "28", "--count", "10"]) == 0
    assert (tmp_path / "data" / "shapes" / "train-images.npy").is_file()
    assert not (tmp_path / "home").exists()
    monkeypatch.delenv("VAESTUDIO_DATA_DIR")
    assert main(["data", "make", "shapes", "--size", "28", "--count", "10"]) == 0
    assert (tmp_path / "home" / "datasets" / "shapes" / "train-images.npy").is_file()
    capsys.readouterr()
