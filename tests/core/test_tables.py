"""CSV tables: the encoded test set (one row per test image) and the loss history."""

from __future__ import annotations

import csv
import errno
from pathlib import Path

import numpy as np
import pytest
from tiny_data import write_idx_folder

from vaestudio.cli.main import main
from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.errors import ConfigError, ExportError
from vaestudio.core.latent.space import EncodedSet, PCAProjection, encode_images
from vaestudio.core.latent.tables import (
    encoded_columns,
    map_projection,
    write_encoded_csv,
    write_history_csv,
)
from vaestudio.core.models.model_files import load_model

TEST_IMAGES = 48
LATENT = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained for one epoch on the tiny digits, and its dataset spec."""
    folder = tmp_path_factory.mktemp("tables")
    write_idx_folder(folder / "digits", train=128, test=TEST_IMAGES)
    spec = f"idx:{folder / 'digits'}"
    out = folder / "model.safetensors"
    assert main(["train", "--dataset", spec, "--epochs", "1", "--latent-dim", str(LATENT), "--hidden", "16",
                 "--batch-size", "32", "--device", "cpu", "--out", str(out)]) == 0
    return out, spec


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_encoded_csv_has_one_row_per_test_image_with_the_right_columns(trained, tmp_path, capsys):
    model_path, spec = trained
    out = tmp_path / "encoded.csv"
    assert main(["export", str(model_path), "--out", str(out)]) == 0
    assert f"{TEST_IMAGES} test images" in capsys.readouterr().out
    header, rows = read_csv(out)
    assert header == ["label", "mu_z1", "mu_z2", "mu_z3", "logvar_z1", "logvar_z2", "logvar_z3", "map_x",
                      "map_y"]
    assert len(rows) == TEST_IMAGES and all(len(row) == len(header) for row in rows)

    test = load_dataset(spec).test
    encoded = encode_images(load_model(model_path).model, test.images, test.labels)
    values = np.array([[float(value) for value in row] for row in rows])
    assert np.array_equal(values[:, 0].astype(int), test.labels.numpy())
    np.testing.assert_allclose(values[:, 1:4], encoded.mu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(values[:, 4:7], encoded.logvar, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(values[:, 7:], PCAProjection(encoded.mu).to_map(encoded.mu), rtol=1e-5, atol=1e-5)


def test_the_map_can_be_two_chosen_dimensions(trained, tmp_path):
    model_path, _ = trained
    out = tmp_path / "encoded.csv"
    assert main(["export", str(model_path), "--out", str(out), "--map", "dims", "--dims", "3", "1"]) == 0
    header, rows = read_csv(out)
    values = np.array([[float(value) for value in row] for row in rows])
    assert np.array_equal(values[:, header.index("map_x")], values[:, header.index("mu_z3")])
    assert np.array_equal(values[:, header.index("map_y")], values[:, header.index("mu_z1")])


@pytest.mark.parametrize("dims", [("0", "1"), ("1", "4"), ("2", "2")])
def test_dims_are_numbered_from_one(trained, tmp_path, capsys, dims):
    model_path, _ = trained
    assert main(["export", str(model_path), "--out", str(tmp_path / "e.csv"), "--map", "dims", "--dims", *dims]) == 2
    assert "choose two different dimensions from 1 to 3 (z1..z3" in capsys.readouterr().err


def test_loss_history_csv_has_one_row_per_step(trained, tmp_path):
    model_path, _ = trained
    out = tmp_path / "history.csv"
    assert main(["export", str(model_path), "--table", "history", "--out", str(out)]) == 0
    history = load_model(model_path).history
    header, rows = read_csv(out)
    assert header == ["step", "loss", "reconstruction", "kl"]
    assert len(rows) == len(history.step_loss) == 4  # 128 images in batches of 32
    assert [int(row[0]) for row in rows] == [1, 2, 3, 4]
    np.testing.assert_allclose([[float(v) for v in row[1:]] for row in rows],
                               np.array([history.step_loss, history.step_reconstruction, history.step_kl]).T,
                               rtol=1e-6)


def test_epochs_csv_has_the_per_dimension_kl(trained, tmp_path):
    model_path, _ = trained
    out = tmp_path / "epochs.csv"
    assert main(["export", str(model_path), "--table", "epochs", "--out", str(out)]) == 0
    header, rows = read_csv(out)
    result = load_model(model_path).history.epochs[0]
    assert header[:2] == ["epoch", "train_loss"] and header[-LATENT:] == ["kl_z1", "kl_z2", "kl_z3"]
    assert len(rows) == 1 and rows[0][0] == "1"
    assert float(rows[0][header.index("test_loss")]) == pytest.approx(result.test.loss, rel=1e-6)
    np.testing.assert_allclose([float(v) for v in rows[0][-LATENT:]], result.test.kl_per_dim, rtol=1e-6)


def test_the_same_model_gives_the_same_bytes(trained, tmp_path):
    model_path, _ = trained
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (first, second):
        assert main(["export", str(model_path), "--out", str(path)]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_wrong_extension_and_mismatched_map_are_refused(trained, tmp_path, capsys):
    model_path, _ = trained
    assert main(["export", str(model_path), "--out", str(tmp_path / "encoded.xlsx")]) == 2
    assert "Cannot write a table as '.xlsx': name the file with .csv" in capsys.readouterr().err
    encoded = EncodedSet(np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32), np.arange(3))
    with pytest.raises(ConfigError, match="The map has 2 points for 3 encoded images"):
        write_encoded_csv(tmp_path / "x.csv", encoded, np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="Unknown map 'umap'"):
        map_projection(encoded.mu, "umap")
    assert list(tmp_path.iterdir()) == []


def test_without_a_map_the_columns_stop_at_the_log_variances(tmp_path):
    encoded = EncodedSet(np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32), np.array([4, 7]))
    header, rows = read_csv(write_encoded_csv(tmp_path / "e.csv", encoded))
    assert header == encoded_columns(2, with_map=False) == ["label", "mu_z1", "mu_z2", "logvar_z1", "logvar_z2"]
    assert rows == [["4", "1", "1", "0", "0"], ["7", "1", "1", "0", "0"]]


def test_a_full_disk_leaves_no_half_written_table(monkeypatch, tmp_path):
    from vaestudio.core.models.history import TrainingHistory

    def write_half(self, data):
        with Path.open(self, "wb") as handle:
            handle.write(data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Path, "write_bytes", write_half)
    history = TrainingHistory(step_loss=[3.0, 2.0], step_reconstruction=[2.0, 1.5], step_kl=[1.0, 0.5])
    with pytest.raises(ExportError, match="The disk is full"):
        write_history_csv(tmp_path / "history.csv", history)
    assert list(tmp_path.iterdir()) == []
