"""The run set-up form, the Start / Pause / Stop actions, and the run's progress.

Every input is checked as it is typed; `problem()` names the first impossible value and the
Start action stays disabled while there is one. `config()` turns the form into the core's
`TrainingConfig`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.console import format_duration
from vaestudio.core.data.fetching import list_datasets
from vaestudio.core.data.folders import classify_folder
from vaestudio.core.data.image_shape import IMAGE_SIZES
from vaestudio.core.errors import ConfigError, DatasetError, VaeStudioError
from vaestudio.core.models.history import EpochResult, EvaluationResult, StepProgress
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import (
    AUTO_KIND,
    HIDDEN_RANGE,
    LATENT_RANGE,
    MODEL_KINDS,
    ModelConfig,
)
from vaestudio.core.models.training_config import (
    BATCH_SIZE_RANGE,
    BETA_RANGE,
    EPOCH_RANGE,
    KL_WARMUP_RANGE,
    LR_RANGE,
    PIXEL_MODES,
    PRECISIONS,
    SEED_RANGE,
    TrainingConfig,
)
from vaestudio.core.training.devices import (
    available_devices,
    device_label,
    resolve_device,
)
from vaestudio.gui.widgets.dialogs import show_error

SETTINGS_KEY = "training/form"
MODEL_TITLES = {"mlp": "MLP (fully connected)", "conv": "Convolutional",
                AUTO_KIND: "Automatic (MLP up to 28x28, convolutional above)"}
CHANNEL_TITLES = {1: "Grayscale", 3: "Colour"}
PIXEL_TITLES = {"continuous": "Grey levels", "binarized": "Binarized"}
PRECISION_TITLES = {"auto": "Automatic", "float32": "float32", "bfloat16": "bfloat16 (mixed)"}
INVALID_STYLE = "border: 1px solid #d62728;"
COMBO_LEAST_CHARACTERS = 7  # a combo box asks for no more than seven characters (and an icon); longer names elide


def describe_test_loss(test: EvaluationResult) -> str:
    """"84.12 nats (0.1548 bits/dim)": per image, and per value where the file recorded the image size."""
    bits = f" ({test.bits_per_dim:.4f} bits/dim)" if test.bits_per_dim is not None else ""
    return f"{test.loss:.2f} nats{bits}"


def _spin(low: int, high: int, value: int, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSingleStep(step)
    return spin


class TrainingPanel(QWidget):
    """The Run set-up dock: inputs, the three run actions, progress bars, speed and time left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = TrainingConfig()
        self.dataset = QComboBox()
        self.dataset.setToolTip("A named dataset (downloaded on first use), or a folder of IDX files or images")
        self._dataset_index = 0
        self.model_kind = QComboBox()
        for kind in MODEL_KINDS + (AUTO_KIND,):
            self.model_kind.addItem(MODEL_TITLES.get(kind, kind), kind)
        self.image_size = QComboBox()
        self.image_size.setToolTip("The square size the images are resized (and centre-cropped) to when read")
        self.image_size.addItem("From the data", None)
        for size in IMAGE_SIZES:
            self.image_size.addItem(f"{size} x {size}", size)
        self.channels = QComboBox()
        self.channels.setToolTip("Train on grayscale or colour images (converted when read)")
        self.channels.addItem("From the data", None)
        for count, title in CHANNEL_TITLES.items():
            self.channels.addItem(title, count)
        self.latent_dim = _spin(*LATENT_RANGE, defaults.model.latent_dim)
        self.hidden = _spin(*HIDDEN_RANGE, defaults.model.hidden, 50)
        self.beta = QDoubleSpinBox()
        self.beta.setRange(*BETA_RANGE)
        self.beta.setDecimals(3)
        self.beta.setSingleStep(0.1)
        self.beta.setValue(defaults.beta)
        self.beta.setToolTip("Weight of the KL term (1 = the standard VAE, above 1 = beta-VAE)")
        self.kl_warmup = QDoubleSpinBox()
        self.kl_warmup.setRange(*KL_WARMUP_RANGE)
        self.kl_warmup.setDecimals(1)
        self.kl_warmup.setSingleStep(1.0)
        self.kl_warmup.setSpecialValueText("off")
        self.kl_warmup.setValue(defaults.kl_warmup_epochs)
        self.kl_warmup.setToolTip("Epochs over which the KL term's weight rises from 0 to Beta (--kl-warmup): a "
                                  "convolutional VAE then starts using its latent sooner (e.g. 3 for shapes)")
        self.pixels = QComboBox()
        for mode in PIXEL_MODES:
            self.pixels.addItem(PIXEL_TITLES[mode], mode)
        self.pixels.setCurrentIndex(self.pixels.findData(defaults.pixels))
        self.pixels.setToolTip("Continuous: each pixel's grey level is the target, as in the PyTorch example. "
                               "Binarized: each pixel is drawn black or white anew at every step, with its grey "
                               "level as the chance of white (--pixels)")
        self.epochs = _spin(*EPOCH_RANGE, defaults.epochs)
        self.batch_size = _spin(*BATCH_SIZE_RANGE, defaults.batch_size, 32)
        self.learning_rate = QLineEdit(f"{defaults.lr:g}")
        self.learning_rate.setToolTip(f"Adam's learning rate: above {LR_RANGE[0]:g} and at most {LR_RANGE[1]:g}, "
                                      "e.g. 1e-3")
        self.device = QComboBox()
        self.device.addItem(f"Auto ({device_label(resolve_device('auto'))})", "auto")
        for name in available_devices():
            self.device.addItem(name.upper() if name == "cpu" else name, name)
        self.seed = _spin(*SEED_RANGE, defaults.seed)
        self.fused_step = QCheckBox("Hand-written MLP step")
        self.fused_step.setChecked(defaults.fused_step)
        self.fused_step.setToolTip("Train the MLP with its gradient written out by hand and one flat Adam update: "
                                   "the same results as autograd, about a third faster on a CPU. Off: autograd.")
        self.precision = QComboBox()
        for name in PRECISIONS:
            self.precision.addItem(PRECISION_TITLES[name], name)
        self.precision.setCurrentIndex(self.precision.findData(defaults.precision))
        self.precision.setToolTip(
            "The arithmetic of the forward pass. Automatic: bfloat16 for the convolutional VAE where the CPU or GPU "
            "has fast native bfloat16 (on such a CPU about 1.6-1.9x the speed; the loss it reaches is float32's within "
            "the spread between seeds), float32 otherwise "
            "and always for the MLP. Weights, the optimiser and the test loss stay float32 either way. "
            "The status line says which one a run uses.")
        self._fill_datasets()
        # Long names (a folder's path) never widen the dock: the form fits its least width (RUN_DOCK_WIDTH)
        for combo in (self.dataset, self.image_size, self.channels, self.pixels, self.model_kind, self.device,
                      self.precision):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_LEAST_CHARACTERS)

        form = QFormLayout()
        for label, widget in (("Dataset", self.dataset), ("Image size", self.image_size), ("Channels", self.channels),
                              ("Pixels", self.pixels), ("Model type", self.model_kind),
                              ("Latent size", self.latent_dim), ("Hidden width", self.hidden), ("Beta", self.beta),
                              ("KL warm-up", self.kl_warmup), ("Epochs", self.epochs),
                              ("Batch size", self.batch_size), ("Learning rate", self.learning_rate),
                              ("Device", self.device), ("Seed", self.seed), ("Precision", self.precision)):
            form.addRow(label, widget)
        form.addRow(self.fused_step)  # the whole row: its text is wider than a field
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #d62728;")
        setup = QGroupBox("Run set-up")
        setup_layout = QVBoxLayout(setup)
        setup_layout.addLayout(form)
        setup_layout.addWidget(self.problem_label)

        self.start_action = QAction("Start", self)
        self.start_action.setShortcuts([QKeySequence("Ctrl+R"), QKeySequence("F5")])
        self.start_action.setToolTip("Start training (Ctrl+R)")
        self.pause_action = QAction("Pause", self)
        self.pause_action.setShortcut(QKeySequence("Ctrl+P"))
        self.pause_action.setToolTip("Pause or resume training (Ctrl+P)")
        self.stop_action = QAction("Stop", self)
        self.stop_action.setShortcut(QKeySequence("Ctrl+."))
        self.stop_action.setToolTip("Stop training and keep the model (Ctrl+.)")
        buttons = QHBoxLayout()
        for action in (self.start_action, self.pause_action, self.stop_action):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setMinimumWidth(70)
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.epoch_bar = QProgressBar()
        self.run_bar = QProgressBar()
        self.run_bar.setRange(0, 1000)
        self.speed_label = QLabel()
        self.time_left_label = QLabel()
        self.loss_label = QLabel()
        self.loss_label.setWordWrap(True)
        self.status_label = QLabel("Ready")
        self.status_label.setWordWrap(True)
        for label in (self.problem_label, self.loss_label, self.status_label):
            # a long word (a folder's path) is cut at the dock's edge rather than widening the form past it
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        progress = QGroupBox("Progress")
        progress_layout = QVBoxLayout(progress)
        progress_layout.addWidget(self.epoch_bar)
        progress_layout.addWidget(self.run_bar)
        rates = QHBoxLayout()
        rates.addWidget(self.speed_label)
        rates.addStretch(1)
        rates.addWidget(self.time_left_label)
        progress_layout.addLayout(rates)
        progress_layout.addWidget(self.loss_label)
        progress_layout.addWidget(self.status_label)

        layout = QVBoxLayout(self)
        margins = layout.contentsMargins()  # narrow sides: the dock is narrow (RUN_DOCK_WIDTH)
        layout.setContentsMargins(4, margins.top(), 4, margins.bottom())
        layout.addWidget(setup)
        layout.addLayout(buttons)
        layout.addWidget(progress)
        layout.addStretch(1)

        self._running = False
        self._run_config: TrainingConfig | None = None
        self.reset_progress()
        for spin in (self.latent_dim, self.hidden, self.epochs, self.batch_size, self.seed):
            spin.lineEdit().textChanged.connect(self._validate)
        self.beta.lineEdit().textChanged.connect(self._validate)
        self.kl_warmup.lineEdit().textChanged.connect(self._validate)
        self.learning_rate.textChanged.connect(self._validate)
        for combo in (self.model_kind, self.device, self.image_size, self.channels, self.pixels):
            combo.currentIndexChanged.connect(self._validate)
        self.dataset.activated.connect(self._on_dataset_chosen)
        self.set_running(False)

    # the form
    def config(self) -> TrainingConfig:
        """The form as a validated TrainingConfig; ConfigError names what is wrong."""
        for name, spin in (("latent size", self.latent_dim), ("hidden width", self.hidden), ("beta", self.beta),
                           ("epochs", self.epochs), ("batch size", self.batch_size), ("seed", self.seed)):
            if not spin.hasAcceptableInput():
                raise ConfigError(f"The {name} {spin.text()!r} is not allowed: enter a number from "
                                  f"{spin.minimum():g} to {spin.maximum():g}.")
        try:
            lr = float(self.learning_rate.text())
        except ValueError:
            raise ConfigError(f"The learning rate {self.learning_rate.text()!r} is not a number: enter e.g. 1e-3.") \
                from None
        model = ModelConfig(self.model_kind.currentData(), self.latent_dim.value(), self.hidden.value())
        return TrainingConfig(dataset=self.dataset.currentData() or "mnist", model=model, epochs=self.epochs.value(),
                              batch_size=self.batch_size.value(), lr=lr, beta=self.beta.value(),
                              kl_warmup_epochs=self.kl_warmup.value(), pixels=self.pixels.currentData(),
                              seed=self.seed.value(), device=self.device.currentData(),
                              fused_step=self.fused_step.isChecked(), image_size=self.image_size.currentData(),
                              channels=self.channels.currentData(), precision=self.precision.currentData()).validate()

    def setting_widgets(self) -> tuple[QWidget, ...]:
        """Every control of the run's settings (all fixed while a run trains)."""
        return (self.dataset, self.image_size, self.channels, self.pixels, self.model_kind, self.latent_dim,
                self.hidden, self.beta, self.kl_warmup, self.epochs, self.batch_size, self.learning_rate, self.device,
                self.seed, self.precision, self.fused_step)

    def problem(self) -> str | None:
        try:
            self.config()
        except ConfigError as error:
            return str(error)
        return None

    def set_config(self, config: TrainingConfig) -> None:
        """Fill the form from a config (datasets that are folders are added to the list)."""
        self._select_dataset(config.dataset)
        self.model_kind.setCurrentIndex(max(0, self.model_kind.findData(config.model.kind)))
        self.image_size.setCurrentIndex(max(0, self.image_size.findData(config.image_size)))
        self.channels.setCurrentIndex(max(0, self.channels.findData(config.channels)))
        self.latent_dim.setValue(config.model.latent_dim)
        self.hidden.setValue(config.model.hidden)
        self.beta.setValue(config.beta)
        self.kl_warmup.setValue(config.kl_warmup_epochs)
        self.pixels.setCurrentIndex(max(0, self.pixels.findData(config.pixels)))
        self.epochs.setValue(config.epochs)
        self.batch_size.setValue(config.batch_size)
        self.learning_rate.setText(f"{config.lr:g}")
        self.device.setCurrentIndex(max(0, self.device.findData(config.device)))
        self.seed.setValue(config.seed)
        self.fused_step.setChecked(config.fused_step)
        self.precision.setCurrentIndex(max(0, self.precision.findData(config.precision)))
        self._validate()

    def use_folder(self, folder: str | Path) -> bool:
        """Train on a folder of IDX files or images; a folder that is neither gets an error dialog."""
        try:
            spec = classify_folder(folder)
        except (DatasetError, OSError) as error:
            show_error(self.window(), "This folder cannot be used as a dataset.", str(error))
            self.dataset.setCurrentIndex(self._dataset_index)
            return False
        self._select_dataset(spec)
        return True

    def save_settings(self, settings: QSettings) -> None:
        try:
            values = self.config().to_dict()
        except ConfigError:
            return
        settings.setValue(SETTINGS_KEY, json.dumps(values))

    def restore_settings(self, settings: QSettings) -> None:
        text = settings.value(SETTINGS_KEY, "")
        try:
            config = TrainingConfig.from_dict(json.loads(str(text))).validate() if text else None
        except (ValueError, TypeError, KeyError, VaeStudioError):
            config = None
        if config is None:
            return
        if ":" in config.dataset and not Path(config.dataset.partition(":")[2]).is_dir():
            config = TrainingConfig.from_dict({**config.to_dict(), "dataset": "mnist"})
        self.set_config(config)

    # running state and progress
    def set_running(self, running: bool, config: TrainingConfig | None = None) -> None:
        self._running = running
        if running:
            self._run_config = config
            self.reset_progress()
        for widget in self.setting_widgets():
            widget.setEnabled(not running)
        self.pause_action.setEnabled(running)
        self.stop_action.setEnabled(running)
        self.set_paused(False)
        self._validate()

    def set_paused(self, paused: bool) -> None:
        self.pause_action.setText("Resume" if paused else "Pause")

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def reset_progress(self) -> None:
        self.epoch_bar.setRange(0, 1)
        self.epoch_bar.setValue(0)
        self.epoch_bar.setFormat("Epoch")
        self.run_bar.setValue(0)
        self.run_bar.setFormat("Run")
        self.speed_label.setText("")
        self.time_left_label.setText("")
        self.loss_label.setText("")

    def show_step(self, progress: StepProgress) -> None:
        """Progress from the run's newest step."""
        if self._run_config is None:
            return
        epoch, batch, batches = progress.epoch, progress.batch, progress.batches
        epochs = self._run_config.epochs
        self.epoch_bar.setRange(0, batches)
        self.epoch_bar.setValue(batch)
        self.epoch_bar.setFormat(f"Epoch {epoch} of {epochs}: batch {batch} of {batches}")
        done = (epoch - 1 + batch / batches) / epochs
        self.run_bar.setValue(int(round(done * 1000)))
        self.run_bar.setFormat(f"Run: {done * 100:.0f}%")
        speed = progress.samples_per_second
        self.speed_label.setText(f"{speed:,.0f} images/s")
        remaining_batches = (epochs - epoch) * batches + (batches - batch)
        if speed > 0 and math.isfinite(speed):
            seconds = remaining_batches * self._run_config.batch_size / speed
            self.time_left_label.setText(f"{format_duration(seconds)} left")
        self.loss_label.setText(f"Loss {progress.loss:.2f} (reconstruction {progress.reconstruction:.2f}, "
                                f"KL {progress.kl:.2f})")

    def show_model(self, saved: SavedModel) -> None:
        """A model was opened: the form takes its settings and the progress box describes it, not the last run."""
        self.set_config(saved.training)
        self._run_config = None
        self.reset_progress()
        last = saved.history.epochs[-1] if saved.history.epochs else None
        self.status_label.setText(f"Opened a model trained for {saved.epoch} epochs on {saved.training.dataset}"
                                  + (f": test loss {describe_test_loss(last.test)}." if last else "."))

    def show_epoch(self, result: EpochResult) -> None:
        self.status_label.setText(f"Epoch {result.epoch} of {result.epochs} done in {result.seconds:.1f} s: "
                                  f"test loss {describe_test_loss(result.test)}, {result.test.active_units} "
                                  "active units.")

    # internals
    def _fill_datasets(self) -> None:
        self.dataset.clear()
        for info in list_datasets():
            missing = "(made on first use)" if info.name == "shapes" else "(downloads on first use)"
            self.dataset.addItem(info.title if info.available else f"{info.title} {missing}", info.name)
        self.dataset.insertSeparator(self.dataset.count())
        self.dataset.addItem("Open folder…", None)

    def _select_dataset(self, spec: str) -> None:
        index = self.dataset.findData(spec)
        if index < 0:
            index = self.dataset.count() - 2  # before the separator
            label = Path(spec.partition(":")[2]).name or spec
            self.dataset.insertItem(index, f"Folder: {label}", spec)
            self.dataset.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        self.dataset.setCurrentIndex(index)
        self._dataset_index = index
        self._validate()

    def _on_dataset_chosen(self, index: int) -> None:
        if self.dataset.itemData(index) is None:
            self.dataset.setCurrentIndex(self._dataset_index)
            QTimer.singleShot(0, self.choose_folder)
            return
        self._dataset_index = index
        self._validate()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window(), "Open a dataset folder (IDX files or class folders)")
        if folder:
            self.use_folder(folder)

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.problem_label.setVisible(bool(problem))
        self.learning_rate.setStyleSheet(INVALID_STYLE if problem and "learning rate" in problem.lower() else "")
        self.start_action.setEnabled(not self._running and problem is None)
