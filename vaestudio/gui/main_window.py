"""The VAE Studio main window: the run set-up dock, the Training tab (loss plot and KL bars), menus, status bar.

The window owns the `ModelSession` that the explorer panels read, starts and stops runs
(`TrainingRun`, one QThread each) and keeps the run's history as its step batches arrive.
Other panels join as tabs through `add_panel`.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from vaestudio import __version__
from vaestudio.core.data.paths import atomic_output, runs_dir
from vaestudio.core.errors import ConfigError, DeviceError, VaeStudioError
from vaestudio.core.models.history import EpochResult, TrainingHistory
from vaestudio.core.models.model_files import SavedModel, open_model, save_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import device_label, resolve_device
from vaestudio.gui.jobs import JobRunner
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.training.kl_bars import KLBars
from vaestudio.gui.training.loss_plot import LossPlot
from vaestudio.gui.training.run_panel import TrainingPanel
from vaestudio.gui.training.worker import (
    STEP_COLUMNS,
    TRAINING_NICENESS,
    RunInfo,
    TrainingRequest,
    TrainingRun,
)
from vaestudio.gui.widgets import dialogs

MODEL_FILTER = "VAE Studio models (*.safetensors);;PyTorch example state_dicts (*.pt *.pth);;All files (*)"
_COLUMN = {name: index for index, name in enumerate(STEP_COLUMNS)}
ORIGIN_TITLES = {"trained": "trained here", "file": "opened from a file", "bundled": "bundled"}


def default_window_size() -> tuple[int, int]:
    """Most of the screen, up to 1680x1050: the map and the panels under it want the room."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return 1280, 800
    available = screen.availableGeometry()
    return (max(1024, min(1680, int(available.width() * 0.9))),
            max(700, min(1050, int(available.height() * 0.9))))


def new_run_folder(config: TrainingConfig) -> Path:
    """runs_dir()/<timestamp>-<dataset>-<model>, not yet created; unique even for two runs in one second."""
    kind, _, folder = config.dataset.partition(":")
    dataset = f"{kind}-{Path(folder).name}" if folder else kind
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)[:40] or "data"
    base = runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset}-{config.model.kind}"
    candidate, number = base, 2
    while candidate.exists():
        candidate, number = base.with_name(f"{base.name}-{number}"), number + 1
    return candidate


class MainWindow(QMainWindow):
    # Emitted on the GUI thread once the window has shown what the training thread sent.
    runStarted = Signal(object)       # TrainingRun
    stepsShown = Signal(int)          # number of steps in the batch
    epochFinished = Signal(object)    # EpochResult
    pausedChanged = Signal(bool)      # True once the loop really waits

    def __init__(self, session: ModelSession | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session or ModelSession(self)
        self.jobs = JobRunner(self)  # every background job of the panels (training has its own thread)
        self.run: TrainingRun | None = None
        self.history = TrainingHistory()
        self.training_threads: int | None = None  # None: measured and chosen while training
        self.training_niceness = TRAINING_NICENESS
        self.data_dir: str | None = None
        # "keep", "discard" or "cancel" answers the close-while-training question without asking.
        self.close_policy: str | None = None
        self._close_when_stopped = False
        self._discard_when_stopped = False
        self._saved_path: Path | None = None
        self._splitters: list[QSplitter] = []  # panels' splitters, remembered between runs

        self.setWindowTitle("VAE Studio")
        self.resize(*default_window_size())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.loss_plot = LossPlot()
        self.kl_bars = KLBars()
        self.training_view = QSplitter(Qt.Orientation.Vertical)
        self.training_view.setObjectName("trainingSplitter")
        self.training_view.addWidget(self.loss_plot)
        self.training_view.addWidget(self.kl_bars)
        self.training_view.setSizes([520, 260])
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.training_view, "Training")
        self.setCentralWidget(self.tabs)

        self.panel = TrainingPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setup_dock = QDockWidget("Run", self)
        self.setup_dock.setObjectName("runDock")
        self.setup_dock.setWidget(scroll)
        self.setup_dock.setMinimumWidth(280)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)

        self.device_status = QLabel()
        self.model_status = QLabel()
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().addPermanentWidget(self.device_status)
        self._show_device(device_label(resolve_device("auto")))
        self._build_menus()

        self.panel.start_action.triggered.connect(self._start_from_form)
        self.panel.pause_action.triggered.connect(self.toggle_pause)
        self.panel.stop_action.triggered.connect(self.stop_training)
        self.session.modelChanged.connect(self._show_model_status)
        self.session.weightsUpdated.connect(self._show_model_status)
        self._restore_settings()
        self._show_model_status()

    # panels
    def add_panel(self, widget: QWidget, title: str) -> int:
        """Add a panel (e.g. the latent explorer) as a tab beside Training; returns its tab index."""
        return self.tabs.addTab(widget, title)

    # training
    def start_training(self, config: TrainingConfig | None = None, *, data_dir: str | None = None
                       ) -> TrainingRun | None:
        """Start a run from `config` (default: the form). Returns the run, or None after an error dialog."""
        if self.run is not None and self.run.alive:
            return None
        try:
            config = (config or self.panel.config()).validate()
            resolve_device(config.device)
        except (ConfigError, DeviceError) as error:
            dialogs.show_error(self, "Training cannot start with these settings.", str(error))
            return None
        request = TrainingRequest(config, data_dir or self.data_dir, new_run_folder(config), self.training_threads,
                                  self.training_niceness)
        run = TrainingRun(request)
        worker = run.worker
        worker.status.connect(self.panel.show_status)
        worker.started.connect(self._on_run_started)
        worker.steps.connect(self._on_steps)
        worker.epochFinished.connect(self._on_epoch)
        worker.snapshot.connect(self._on_snapshot)
        worker.saved.connect(self._on_saved)
        worker.pausedChanged.connect(self._on_paused)
        worker.errored.connect(self._on_error)
        run.ended.connect(self._on_run_ended)
        self.run = run
        self._saved_path = None
        self.history = TrainingHistory()
        self.loss_plot.clear()
        self.kl_bars.clear()
        self.panel.set_running(True, config)
        self._set_file_actions()
        run.start()
        self.runStarted.emit(run)
        return run

    def _start_from_form(self) -> None:
        self.start_training()

    def toggle_pause(self) -> None:
        if self.run is None or not self.run.alive:
            return
        if self.run.control.paused:
            self.run.resume()
            self.panel.set_paused(False)
        else:
            self.run.pause()
            self.panel.set_paused(True)
            self.panel.show_status("Pausing after this step…")

    def stop_training(self) -> None:
        if self.run is not None and self.run.alive:
            self.run.stop()
            self.panel.show_status("Stopping…")

    def shutdown(self) -> None:
        """Stop a run and wait for its thread (application exit); the window's own close does not block."""
        self.jobs.shutdown()
        if self.run is not None and self.run.alive:
            self.run.stop_and_wait()

    def _on_run_started(self, info: RunInfo) -> None:
        self.session.start_training(self.run.request.config, info.class_names, info.model_path, self.history)
        self._show_device(info.device)
        self.panel.show_status(f"Training on {info.train_images:,} images ({info.batches_per_epoch} batches an "
                               f"epoch), testing on {info.test_images:,}")

    def _on_steps(self, records: np.ndarray) -> None:
        self.loss_plot.append_steps(records)
        self.panel.show_steps(records)
        self.history.step_loss.extend(records[:, _COLUMN["loss"]].tolist())
        self.history.step_reconstruction.extend(records[:, _COLUMN["reconstruction"]].tolist())
        self.history.step_kl.extend(records[:, _COLUMN["kl"]].tolist())
        self.stepsShown.emit(len(records))

    def _on_epoch(self, result: EpochResult) -> None:
        self.history.epochs.append(result)
        self.loss_plot.add_epoch(result)
        self.kl_bars.show_kl(result.test.kl_per_dim, result.test.active_units)
        self.panel.show_epoch(result)
        self.epochFinished.emit(result)

    def _on_snapshot(self, state: dict, epoch: int) -> None:
        self.session.update_weights(state, epoch, self.history)

    def _on_saved(self, path: str) -> None:
        self._saved_path = Path(path)
        self.statusBar().showMessage(f"Saved epoch {self.session.epoch} to {path}", 4000)

    def _on_paused(self, paused: bool) -> None:
        if self.run is not None and not self.run.control.stop_requested:
            self.panel.show_status("Paused: Resume (Ctrl+P) goes on from here." if paused else "Training")
        self.pausedChanged.emit(paused)

    def _on_error(self, message: str) -> None:
        dialogs.show_error(self, "Training stopped.", message)

    def _on_run_ended(self, outcome: str) -> None:
        run = self.run
        self.panel.set_running(False)
        self._set_file_actions()
        folder = run.request.run_folder if run is not None else None
        if self._discard_when_stopped and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        elif outcome in ("completed", "stopped") and self._saved_path is not None:
            done = "finished" if outcome == "completed" else "stopped"
            self.panel.show_status(f"Training {done} after epoch {self.session.epoch}; the model is in "
                                   f"{self._saved_path}")
        elif outcome == "stopped":
            self.panel.show_status("Stopped before training began.")
        elif outcome == "failed":
            self.panel.show_status("Training stopped by an error.")
        if self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    # model files
    def open_model_file(self, path: str | Path) -> bool:
        """Open a model file (VAE Studio or a PyTorch example state_dict); an error dialog if it cannot be read."""
        try:
            saved = open_model(path)
        except VaeStudioError as error:
            dialogs.show_error(self, "The model file could not be opened.", str(error))
            return False
        self.show_model(saved, "file")
        self.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def show_model(self, saved: SavedModel, origin: str) -> None:
        """Make `saved` the loaded model and plot its history."""
        self.session.load_saved(saved, origin)
        self.history = saved.history
        self.loss_plot.set_history(saved.history, saved.training.batch_size)
        if saved.history.epochs:
            test = saved.history.epochs[-1].test
            self.kl_bars.show_kl(test.kl_per_dim, test.active_units)
        else:
            self.kl_bars.clear()
        self._set_file_actions()

    def save_model_file(self, path: str | Path) -> bool:
        """Save the loaded model (for a run trained here: its autosaved file, optimiser state included)."""
        session = self.session
        if session.model is None:
            return False
        try:
            if session.origin == "trained" and self._saved_path is not None and self._saved_path.is_file():
                with atomic_output(path) as temporary:
                    shutil.copyfile(self._saved_path, temporary)
            else:
                training = session.training or TrainingConfig(model=session.model.config)
                save_model(path, session.model, training, epoch=session.epoch, history=session.history,
                           class_names=session.class_names)
        except VaeStudioError as error:
            dialogs.show_error(self, "The model could not be saved.", str(error))
            return False
        except OSError as error:
            dialogs.show_error(self, "The model could not be saved.",
                               f"{path} could not be written ({error.strerror or error}). Choose a folder you "
                               "can write to with free space.")
            return False
        self.statusBar().showMessage(f"Saved the model to {path}", 4000)
        return True

    def _choose_model_to_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(runs_dir()), MODEL_FILTER)
        if path:
            self.open_model_file(path)

    def _choose_where_to_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", "model.safetensors",
                                              "VAE Studio models (*.safetensors)")
        if path:
            self.save_model_file(path if path.endswith(".safetensors") else f"{path}.safetensors")

    # window
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.run is not None and self.run.alive:
            answer = self.close_policy or dialogs.ask_keep_run(self)
            if answer == dialogs.CANCEL:
                event.ignore()
                return
            self._discard_when_stopped = answer == dialogs.DISCARD
            self._close_when_stopped = True
            self.run.stop()
            self.panel.show_status("Stopping training before closing…")
            event.ignore()
            return
        self._save_settings()
        self.loss_plot.timer.stop()
        self.jobs.shutdown()
        super().closeEvent(event)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.open_action = self._action(menu, "&Open model…", self._choose_model_to_open, QKeySequence.StandardKey.Open)
        self.save_action = self._action(menu, "&Save model as…", self._choose_where_to_save,
                                        QKeySequence.StandardKey.SaveAs)
        if self.save_action.shortcut().isEmpty():
            self.save_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self._action(menu, "Open dataset &folder…", self.panel.choose_folder)
        self._file_extras = menu.addSeparator()
        menu.addSeparator()
        self._action(menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.file_menu = menu
        menu = self.menuBar().addMenu("&Train")
        menu.addActions([self.panel.start_action, self.panel.pause_action, self.panel.stop_action])
        menu = self.menuBar().addMenu("&View")
        self.view_menu = menu
        menu.addAction(self.setup_dock.toggleViewAction())
        self.log_action = self._action(menu, "&Log scale", self.loss_plot.set_log_scale, "Ctrl+L", checkable=True)
        self.loss_plot.log_box.toggled.connect(self.log_action.setChecked)
        menu.addSeparator()
        for box in self.loss_plot.term_boxes.values():
            action = self._action(menu, f"Show {box.text().lower()}", box.setChecked, checkable=True)
            action.setChecked(box.isChecked())
            box.toggled.connect(action.setChecked)
        menu = self.menuBar().addMenu("&Help")
        self._action(menu, "&About VAE Studio", self._about)
        self._action(menu, "About &Qt", QApplication.aboutQt)
        self._set_file_actions()

    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setCheckable(checkable)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def add_file_action(self, text: str, slot, shortcut=None) -> QAction:
        """An entry in the File menu, above Quit (for the panels' exports)."""
        action = self._action(self.file_menu, text, slot, shortcut)
        self.file_menu.insertAction(self._file_extras, action)
        return action

    def tab_shortcuts(self) -> None:
        """Ctrl+1, Ctrl+2, … switch to the first tabs (Training, Latent space, …)."""
        for index in range(min(self.tabs.count(), 9)):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
            shortcut.activated.connect(functools.partial(self.tabs.setCurrentIndex, index))

    def restore_splitter(self, splitter: QSplitter) -> None:
        """Give a panel's splitter (named by objectName) the sizes it had when the window last closed."""
        self._splitters.append(splitter)
        value = QSettings().value(f"window/{splitter.objectName()}")
        if value is not None:
            splitter.restoreState(value)

    def _set_file_actions(self) -> None:
        training = self.run is not None and self.run.alive
        self.open_action.setEnabled(not training)
        self.save_action.setEnabled(self.session.has_model)

    def _show_device(self, label: str) -> None:
        self.device_status.setText(f"Device: {label}")

    def _show_model_status(self) -> None:
        origin = ORIGIN_TITLES.get(self.session.origin, "")
        text = self.session.describe()
        self.model_status.setText(f"Model: {text}" + (f" ({origin})" if origin and self.session.has_model else ""))
        self._set_file_actions()

    def _about(self) -> None:
        QMessageBox.about(self, "About VAE Studio",
                          f"<b>VAE Studio {__version__}</b><p>Train a variational autoencoder on 28x28 images "
                          "and explore what it learned.</p>")

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        for splitter in [self.training_view, *self._splitters]:
            settings.setValue(f"window/{splitter.objectName()}", splitter.saveState())
        self.panel.save_settings(settings)

    def _restore_settings(self) -> None:
        settings = QSettings()
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState),
                             ("window/trainingSplitter", self.training_view.restoreState)):
            value = settings.value(key)
            if value is not None:
                restore(value)
        self.panel.restore_settings(settings)
