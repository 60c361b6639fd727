import json
import subprocess
import sys

import pytest
from tiny_data import write_idx_folder

from vaestudio import __version__
from vaestudio.cli.main import main
from vaestudio.core.models.model_files import load_model


@pytest.fixture
def idx_spec(tmp_path):
    write_idx_folder(tmp_path / "digits")
    return f"idx:{tmp_path / 'digits'}"


def test_version():
    result = subprocess.run([sys.executable, "-m", "vaestudio.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"vaestudio {__version__}"


def test_train_resume_and_eval(idx_spec, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    assert main(["train", "--dataset", idx_spec, "--epochs", "1", "--latent-dim", "3", "--hidden", "16",
                 "--batch-size", "64", "--device", "cpu", "--out", str(out)]) == 0
    assert "epoch   1/1" in capsys.readouterr().out
    assert load_model(out).epoch == 1
    assert main(["train", "--resume", str(out), "--epochs", "2", "--device", "cpu", "--out", str(out)]) == 0
    saved = load_model(out)
    assert saved.epoch == 2 and len(saved.history.epochs) == 2 and saved.config.latent_dim == 3
    capsys.readouterr()
    assert main(["eval", str(out), "--iwae-samples", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["epoch"] == 2 and report["images"] == 64 and len(report["kl_per_dim"]) == 3
    assert report["iwae"] <= report["loss"] + 1.0
    assert set(report) >= {"loss", "reconstruction", "kl", "active_units", "iwae"}


def test_resume_needs_more_epochs(idx_spec, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    main(["train", "--dataset", idx_spec, "--epochs", "1", "--latent-dim", "2", "--hidden", "16", "--out", str(out)])
    assert main(["train", "--resume", str(out), "--epochs", "1"]) == 2
    assert "has already been trained for 1 epochs; ask for more with --epochs (e.g. --epochs 11)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "cifar"], "unknown dataset 'cifar'. Use one of mnist, fashion-mnist, kmnist"),
    (["train", "--latent-dim", "500"], "Latent size 500 is out of range: choose 2 to 128"),
    (["train", "--lr", "-1"], "Learning rate must be above 0"),
    (["eval", "missing.safetensors"], "No model file at missing.safetensors"),
    (["train", "--out", "/"], "is a folder; give a file name"),
    (["data", "fetch", "cifar"], "unknown dataset 'cifar'. Use one of mnist, fashion-mnist, kmnist"),
])
def test_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vaestudio: error: ") and message in err and "Traceback" not in err


def test_missing_dataset_names_every_source(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VAESTUDIO_DATA_DIR", raising=False)
    assert main(["train", "--dataset", f"idx:{tmp_path / 'nowhere'}"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "kmnist", "idx:FOLDER", "images:FOLDER"):
        assert name in out


def test_eval_checks_the_device_before_reading_data(idx_spec, tmp_path, capsys, monkeypatch):
    out = tmp_path / "model.safetensors"
    main(["train", "--dataset", idx_spec, "--epochs", "1", "--latent-dim", "2", "--hidden", "16", "--out", str(out)])
    import vaestudio.cli.commands as commands

    monkeypatch.setattr(commands, "load_dataset", lambda *a, **k: pytest.fail("data read before the device check"))
    assert main(["eval", str(out), "--device", "banana"]) == 2
    assert "Unknown device 'banana'" in capsys.readouterr().err
