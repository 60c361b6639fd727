import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from tiny_data import write_idx_folder

from vaestudio import __version__
from vaestudio.cli.main import main
from vaestudio.core.models.model_files import load_model
from vaestudio.core.training.devices import device_label, resolve_device


@pytest.fixture
def idx_spec(tmp_path):
    write_idx_folder(tmp_path / "digits")
    return f"idx:{tmp_path / 'digits'}"


def test_version(isolated_home):
    """One line: VAE Studio, torch, Qt, pyqtgraph, the device and the user data folder, loading no Qt."""
    code = ("import sys; from vaestudio.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line, qt_modules = result.stdout.strip().splitlines()
    assert line.startswith(f"vaestudio {__version__}; torch: {torch.__version__}")
    device = device_label(resolve_device("auto"))
    assert f"Qt: PySide6 {version('PySide6-Essentials')}; pyqtgraph: {version('pyqtgraph')}; Device: {device}" in line
    assert line.endswith(f"User data: {isolated_home}") and qt_modules == "[]"


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


def test_train_precision_is_said_first_and_a_resume_keeps_the_files_own(idx_spec, tmp_path, capsys):
    from vaestudio.core.training.precision import bfloat16_missing

    out = tmp_path / "conv.safetensors"
    common = ["--epochs", "1", "--latent-dim", "3", "--hidden", "16", "--batch-size", "64", "--device", "cpu"]
    assert main(["train", "--dataset", idx_spec, "--model", "conv", "--precision", "float32", *common,
                 "--out", str(out), "--quiet"]) == 0
    assert "step: autograd in float32, epochs 1-1." in capsys.readouterr().err
    assert load_model(out).training.precision == "float32"
    assert main(["train", "--resume", str(out), "--epochs", "2", "--device", "cpu", "--quiet"]) == 0
    assert "step: autograd in float32, epochs 2-2." in capsys.readouterr().err  # what the file was trained in
    assert main(["train", "--resume", str(out), "--epochs", "3", "--device", "cpu", "--precision", "auto",
                 "--quiet"]) == 0
    auto = "float32" if bfloat16_missing(torch.device("cpu")) else "bfloat16"
    assert f"step: autograd in {auto}, epochs 3-3." in capsys.readouterr().err
    assert load_model(out).training.precision == auto  # the file records what ran, not "auto"
    assert main(["train", "--dataset", idx_spec, *common, "--out", str(tmp_path / "mlp.safetensors"),
                 "--quiet"]) == 0
    assert "step: fused-mlp in float32" in capsys.readouterr().err


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


@pytest.fixture
def model_file(idx_spec, tmp_path):
    """An untrained model file (latent 2) whose dataset is the tiny IDX folder."""
    import torch

    from vaestudio.core.models.model_files import save_model
    from vaestudio.core.models.networks import ModelConfig, build_model
    from vaestudio.core.models.training_config import TrainingConfig

    torch.manual_seed(0)
    config = TrainingConfig(dataset=idx_spec, model=ModelConfig("mlp", 2, 16))
    return save_model(tmp_path / "model.safetensors", build_model(config.model), config, epoch=0)


@pytest.fixture
def no_data_reads(monkeypatch):
    """Any dataset read (both splits or one) fails the test."""
    from vaestudio.core.data import datasets

    monkeypatch.setattr(datasets, "_load", lambda *a, **k: pytest.fail("data read before the device check"))


@pytest.mark.parametrize("command", [["eval"], ["sheet", "--kind", "reconstructions", "--out", "sheet.png"]])
@pytest.mark.parametrize("device, message", [
    ("banana", "Unknown device 'banana'"),
    ("cuda", "CUDA was requested but no CUDA GPU is available here"),
])
def test_eval_and_sheet_check_the_device_before_reading_data(model_file, no_data_reads, command, device, message,
                                                             capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([command[0], str(model_file), *command[1:], "--device", device]) == 2
    assert message in capsys.readouterr().err


def test_eval_and_sheet_read_only_the_test_images(model_file, tmp_path, capsys, monkeypatch):
    from vaestudio.core.data import datasets

    read = []
    real_read_pair = datasets.read_idx_pair

    def recording(images, labels):
        read.append(Path(images).name)
        return real_read_pair(images, labels)

    monkeypatch.setattr(datasets, "read_idx_pair", recording)
    assert main(["eval", str(model_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 64
    out = tmp_path / "pairs.png"
    assert main(["sheet", str(model_file), "--kind", "reconstructions", "--out", str(out), "--rows", "1"]) == 0
    assert out.is_file() and read == ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte"]


@pytest.mark.parametrize("command, example", [
    (["sheet", "--kind", "traversal"], "traversal.png"),
    (["export", "--table", "history"], "history.csv"),
])
def test_an_output_folder_is_called_a_folder(model_file, tmp_path, command, example, capsys):
    for out in (f"{tmp_path}/", f"{tmp_path / 'new'}/"):
        assert main([command[0], str(model_file), *command[1:], "--out", out]) == 2
        err = capsys.readouterr().err
        assert f"{out} is a folder; give a file name such as {Path(out) / example}." in err
        assert "no extension" not in err


def test_window_imports_pause_the_collector_then_freeze_what_they_loaded():
    import gc

    from vaestudio.cli.main import imports_without_garbage_collection

    was_frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    assert gc.isenabled()
    try:
        with pytest.raises(ImportError), imports_without_garbage_collection():
            assert not gc.isenabled()
            import vaestudio_no_such_module  # noqa: F401
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        if not was_frozen:
            gc.unfreeze()


def test_the_parser_is_built_without_torch():
    """`vaestudio --help` stays quick, and the window imports torch inside its own start-up (collector paused)."""
    code = ("import sys\nfrom vaestudio.cli.main import build_parser\nbuild_parser()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'PySide6')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
