"""The run set-up form: validation as typed, folders as datasets, the config it builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFormLayout

from vaestudio.core.models.history import StepProgress
from vaestudio.core.models.networks import HIDDEN_RANGE, LATENT_RANGE, ModelConfig
from vaestudio.core.models.training_config import (
    BATCH_SIZE_RANGE,
    BETA_RANGE,
    EPOCH_RANGE,
    LR_RANGE,
    SEED_RANGE,
    TrainingConfig,
)
from vaestudio.gui.training.run_panel import TrainingPanel


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel()
    qtbot.addWidget(widget)
    return widget


def test_the_form_builds_a_training_config(panel):
    panel.latent_dim.setValue(2)
    panel.hidden.setValue(128)
    panel.model_kind.setCurrentIndex(panel.model_kind.findData("conv"))
    panel.beta.setValue(4.0)
    panel.epochs.setValue(3)
    panel.batch_size.setValue(64)
    panel.learning_rate.setText("3e-4")
    panel.seed.setValue(42)
    config = panel.config()
    assert config.model == ModelConfig("conv", 2, 128)
    assert (config.beta, config.epochs, config.batch_size, config.lr, config.seed) == (4.0, 3, 64, 3e-4, 42)
    assert config.device == "auto" and panel.device.itemData(0) == "auto"
    assert panel.dataset.itemData(panel.dataset.count() - 1) is None  # "Open folder…"


def test_the_precision_choice_reaches_the_config_and_round_trips_through_settings(panel, tmp_path):
    assert panel.config().precision == "auto" and panel.precision.currentData() == "auto"
    assert "bfloat16" in panel.precision.toolTip() and "MLP" in panel.precision.toolTip()
    panel.precision.setCurrentIndex(panel.precision.findData("bfloat16"))
    assert panel.config().precision == "bfloat16"
    settings = QSettings(str(tmp_path / "form.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    other = TrainingPanel()
    try:
        other.restore_settings(settings)
        assert other.config().precision == "bfloat16"
        other.set_config(TrainingConfig(precision="float32"))  # as an opened model's settings fill the form
        assert other.precision.currentData() == "float32" and other.config().precision == "float32"
        other.set_running(True, other.config())
        assert not other.precision.isEnabled()
    finally:
        other.deleteLater()


@pytest.mark.parametrize("text", ["", "fast", "0", "-1e-3", "2", "nan", "inf"])
def test_an_impossible_learning_rate_cannot_be_started(panel, qtbot, text):
    panel.learning_rate.setText(text)
    assert not panel.start_action.isEnabled()
    assert "learning rate" in panel.problem().lower()
    assert panel.problem_label.text() and "border" in panel.learning_rate.styleSheet()
    panel.learning_rate.setText("1e-3")
    assert panel.start_action.isEnabled() and panel.problem() is None


def test_a_half_typed_number_is_caught_as_typed(panel, qtbot):
    panel.latent_dim.lineEdit().selectAll()
    qtbot.keyClicks(panel.latent_dim.lineEdit(), "1")  # below the minimum of 2
    assert not panel.start_action.isEnabled() and "latent size" in panel.problem()
    qtbot.keyClicks(panel.latent_dim.lineEdit(), "6")
    assert panel.start_action.isEnabled() and panel.config().model.latent_dim == 16
    qtbot.keyClicks(panel.latent_dim.lineEdit(), "0")  # 160 is above the maximum: the key is refused
    assert panel.config().model.latent_dim == 16


def test_running_disables_the_form(panel):
    panel.set_running(True, TrainingConfig())
    assert not panel.start_action.isEnabled() and panel.pause_action.isEnabled()
    form = panel.findChild(QFormLayout)
    fields = {form.itemAt(row, role).widget() for row in range(form.rowCount())
              for role in (QFormLayout.ItemRole.FieldRole, QFormLayout.ItemRole.SpanningRole)
              if form.itemAt(row, role) is not None}
    assert fields == set(panel.setting_widgets())  # every field of the form
    assert not any(widget.isEnabled() for widget in fields)  # image size and channels too
    panel.set_running(False)
    assert all(widget.isEnabled() for widget in fields)
    assert panel.start_action.isEnabled() and not panel.stop_action.isEnabled()


def test_progress_shows_epoch_run_speed_and_time_left(panel):
    panel.set_running(True, TrainingConfig(epochs=4, batch_size=100))
    panel.show_step(StepProgress(epoch=2, step=15, batch=5, batches=10, loss=50.0, reconstruction=40.0, kl=10.0,
                                 beta=1.0, samples_per_second=100.0))
    assert panel.epoch_bar.value() == 5 and panel.epoch_bar.maximum() == 10
    assert panel.run_bar.value() == 375
    assert "100 images/s" in panel.speed_label.text()
    assert panel.time_left_label.text() == "0:25 left"  # 25 batches of 100 images at 100 images/s


def test_the_form_limits_are_the_cores_ranges(panel):
    for spin, (low, high) in ((panel.latent_dim, LATENT_RANGE), (panel.hidden, HIDDEN_RANGE),
                              (panel.epochs, EPOCH_RANGE), (panel.batch_size, BATCH_SIZE_RANGE),
                              (panel.beta, BETA_RANGE), (panel.seed, SEED_RANGE)):
        assert (spin.minimum(), spin.maximum()) == (low, high)
    panel.learning_rate.setText(f"{LR_RANGE[1]:g}")
    assert panel.problem() is None
    for outside in (LR_RANGE[0], 2 * LR_RANGE[1]):
        panel.learning_rate.setText(f"{outside:g}")
        assert "Learning rate must be above" in panel.problem()


def test_a_folder_becomes_the_dataset(tmp_path, panel):
    from conftest import write_tiny_idx

    idx = write_tiny_idx(tmp_path / "idx")
    assert panel.use_folder(idx) and panel.config().dataset == f"idx:{idx}"
    images = tmp_path / "images"
    for label in ("cat", "dog"):
        (images / label).mkdir(parents=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(images / label / "1.png")
    assert panel.use_folder(images)
    assert panel.config().dataset == f"images:{images}"
    assert panel.dataset.currentText() == "Folder: images"
    assert panel.use_folder(images) and panel.dataset.findText("Folder: images") == panel.dataset.currentIndex()
    assert Path(panel.config().dataset.partition(":")[2]) == images


def test_kl_warm_up_reaches_the_config_and_comes_back_from_a_model(panel, tmp_path):
    assert panel.config().kl_warmup_epochs == 0.0 and panel.kl_warmup.text() == "off"
    panel.kl_warmup.setValue(3.0)
    assert panel.config().kl_warmup_epochs == 3.0
    settings = QSettings(str(tmp_path / "form.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    panel.set_config(TrainingConfig(kl_warmup_epochs=1.5))  # an opened model's settings
    assert panel.kl_warmup.value() == 1.5 and panel.config().kl_warmup_epochs == 1.5
    panel.restore_settings(settings)
    assert panel.config().kl_warmup_epochs == 3.0


def test_the_pixel_mode_reaches_the_config_and_comes_back_from_a_model(panel):
    assert panel.config().pixels == "continuous"
    panel.pixels.setCurrentIndex(panel.pixels.findData("binarized"))
    assert panel.config().pixels == "binarized"
    panel.set_config(TrainingConfig(pixels="continuous"))  # an opened model's settings
    assert panel.pixels.currentData() == "continuous" and panel.config().pixels == "continuous"
    assert "Binarized" in panel.pixels.toolTip()
