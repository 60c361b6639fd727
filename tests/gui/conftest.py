"""GUI test fixtures: an isolated user folder and QSettings, a tiny IDX dataset, a main window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from vaestudio.core.data.idx import write_idx_images, write_idx_labels

pytest.importorskip("pytestqt")


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory, monkeypatch, qapp):
    """Every test gets its own VAESTUDIO_HOME and QSettings folder; nothing touches the real ones."""
    from vaestudio.gui.app import configure_application

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VAESTUDIO_HOME", str(home))
    settings_dir = tmp_path_factory.mktemp("settings")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(settings_dir))
    configure_application(qapp)
    qapp.setOrganizationName("VAE Studio Tests")
    yield home


def write_tiny_idx(folder: Path, train: int = 192, test: int = 64, seed: int = 0) -> Path:
    """Four IDX files of simple shapes (a bright square at one of four places), enough to train on."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 4, size=count)
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        for index, label in enumerate(labels):
            row, column = divmod(int(label), 2)
            images[index, 4 + row * 12:14 + row * 12, 4 + column * 12:14 + column * 12] = 255
        images = np.clip(images.astype(np.int64) + rng.integers(0, 40, size=images.shape), 0, 255)
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


@pytest.fixture
def tiny_dataset(tmp_path) -> str:
    return f"idx:{write_tiny_idx(tmp_path / 'tiny')}"


@pytest.fixture
def tiny_config(tiny_dataset):
    from vaestudio.core.models.networks import ModelConfig
    from vaestudio.core.models.training_config import TrainingConfig

    def make(epochs: int = 2, **changes):
        values = dict(dataset=tiny_dataset, model=ModelConfig("mlp", 4, 32), epochs=epochs, batch_size=32,
                      lr=1e-3, device="cpu")
        values.update(changes)
        return TrainingConfig(**values)

    return make


@pytest.fixture
def window(qtbot):
    from vaestudio.gui.main_window import MainWindow

    main_window = MainWindow()
    main_window.training_threads = 1
    qtbot.addWidget(main_window)
    yield main_window
    main_window.close_policy = "discard"
    run = main_window.run
    if run is not None and run.alive:
        with qtbot.waitSignal(run.ended, timeout=30_000):
            run.stop()


@pytest.fixture
def model():
    """A small untrained MLP VAE (latent 4), the same for every test."""
    import torch

    from vaestudio.core.models.networks import ModelConfig, build_model

    torch.manual_seed(0)
    return build_model(ModelConfig("mlp", 4, 32))


@pytest.fixture
def session(model):
    """A ModelSession showing `model` (panels' tests; a module may override it)."""
    from vaestudio.core.models.model_files import SavedModel
    from vaestudio.core.models.training_config import TrainingConfig
    from vaestudio.gui.model_session import ModelSession

    session = ModelSession()
    session.load_saved(SavedModel(model, TrainingConfig(model=model.config)))
    return session


@pytest.fixture
def test_set():
    """The tiny synthetic test split (64 images)."""
    from tiny_data import tiny_splits

    return tiny_splits().test
