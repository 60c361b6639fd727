"""The VAE Studio main window: the run set-up dock, the Training tab (loss plot and KL bars), status bar.

The window owns the `ModelSession` that the explorer panels read and starts and stops runs
(`RunThread`: the core's `TrainingRun` on a QThread). It shows what the run holds: the loss
plot follows the run's own history, the progress box its newest step.
Other panels join as tabs through `add_panel`. Its menus are built in `window_menus`, the
model-file actions (open, save, run folders) live in `model_file_actions`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from vaestudio.core.errors import ConfigError, DeviceError
from vaestudio.core.models.history import EpochResult, TrainingHistory
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.devices import device_label, resolve_device
from vaestudio.gui.jobs import JobRunner
from vaestudio.gui.model_file_actions import (
    ask_model_to_open,
    ask_where_to_save,
    new_run_folder,
    read_model_file,
    write_model_file,
)
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.training.follow import RunFollowing
from vaestudio.gui.training.kl_bars import KLBars
from vaestudio.gui.training.loss_plot import LossPlot, batches_per_epoch
from vaestudio.gui.training.run_panel import TrainingPanel
from vaestudio.gui.widgets import dialogs
from vaestudio.gui.window_menus import WindowMenus

if TYPE_CHECKING:  # the training thread's modules load when a run starts, not with the window
    from vaestudio.gui.training.worker import RunInfo, RunThread

log = logging.getLogger(__name__)
RUN_DOCK_WIDTH = (250, 290)  # the Run dock's least and first width: the rest of a 1280-pixel screen for the panels
ORIGIN_TITLES = {"trained": "trained here", "file": "opened from a file", "bundled": "bundled",
                 "followed": "following its run"}


class TrainingView(QSplitter):
    """The Training tab: the loss plot above the KL bars. Says when it is first shown (`shown`), for the
    window builds them only then: a window opened on the map never pays for two more plots."""

    shown = Signal()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()


def default_window_size() -> tuple[int, int]:
    """Most of the screen, up to 1680x1050: the map and the panels under it want the room."""
    screen = QApplication.primaryScreen()
    if screen is None:
        return 1280, 800
    available = screen.availableGeometry()
    return (max(1024, min(1680, int(available.width() * 0.9))),
            max(700, min(1050, int(available.height() * 0.9))))


class MainWindow(QMainWindow):
    # Emitted on the GUI thread once the window has shown what the training thread sent.
    runStarted = Signal(object)       # RunThread
    stepsShown = Signal(int)          # number of steps in the batch
    epochFinished = Signal(object)    # EpochResult
    pausedChanged = Signal(bool)      # True once the loop really waits

    def __init__(self, session: ModelSession | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session or ModelSession(self)
        self.jobs = JobRunner(self)  # every background job of the panels (training has its own thread)
        self.run: RunThread | None = None
        self.training_threads: int | None = None  # None: measured and chosen while training
        self.training_niceness: int | None = None  # None: the worker's TRAINING_NICENESS
        self.data_dir: str | None = None
        # "keep", "discard" or "cancel" answers the close-while-training question without asking.
        self.close_policy: str | None = None
        self._close_when_stopped = False
        self._discard_when_stopped = False
        self._saved_path: Path | None = None
        self._steps_reported = 0
        self._run_state = ""
        self._splitters: list[QSplitter] = []  # panels' splitters, remembered between runs
        self._loss_plot: LossPlot | None = None  # the Training tab's views: built when first needed
        self._kl_bars: KLBars | None = None
        self._batches_per_epoch: int | None = None  # of the history on show: the loss plot's epoch axis
        self.menus: WindowMenus | None = None

        self.setWindowTitle("VAE Studio")
        self.resize(*default_window_size())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.training_view = TrainingView(Qt.Orientation.Vertical)
        self.training_view.setObjectName("trainingSplitter")
        self.training_view.shown.connect(self._build_training_view)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.training_view, "Training")
        self.setCentralWidget(self.tabs)

        self.panel = TrainingPanel()
        scroll = QScrollArea()  # a short window scrolls the form down; it always fits the dock's width
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setup_dock = QDockWidget("Run", self)
        self.setup_dock.setObjectName("runDock")
        self.setup_dock.setWidget(scroll)
        self.setup_dock.setMinimumWidth(RUN_DOCK_WIDTH[0])
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)
        self.resizeDocks([self.setup_dock], [RUN_DOCK_WIDTH[1]], Qt.Orientation.Horizontal)

        self.device_status = QLabel()
        self.model_status = QLabel()
        self.statusBar().addPermanentWidget(self.model_status)
        self.statusBar().addPermanentWidget(self.device_status)
        self._show_device(device_label(resolve_device("auto")))
        self.following = RunFollowing(self)  # File > Follow run…: a run that trains elsewhere
        self.menus = WindowMenus(self)
        self._set_file_actions()

        self.panel.start_action.triggered.connect(self._start_from_form)
        self.panel.pause_action.triggered.connect(self.toggle_pause)
        self.panel.stop_action.triggered.connect(self.stop_training)
        self.session.modelChanged.connect(self._show_model_status)
        self.session.weightsUpdated.connect(self._show_model_status)
        self._restore_settings()
        self._show_model_status()

    # the Training tab
    @property
    def loss_plot(self) -> LossPlot:
        """The Training tab's loss plot (built on first use)."""
        self._build_training_view()
        return self._loss_plot

    @property
    def kl_bars(self) -> KLBars:
        """The Training tab's KL bars (built on first use)."""
        self._build_training_view()
        return self._kl_bars

    def _build_training_view(self) -> None:
        """Build the loss plot and the KL bars, showing the history on show; once."""
        if self._loss_plot is not None:
            return
        self._loss_plot, self._kl_bars = LossPlot(), KLBars()
        self.training_view.addWidget(self._loss_plot)
        self.training_view.addWidget(self._kl_bars)
        self.training_view.setSizes([520, 260])
        state = QSettings().value("window/trainingSplitter")
        if state is not None:
            self.training_view.restoreState(state)
        self._loss_plot.show_history(self.history, self._batches_per_epoch)
        self._show_last_kl()
        if self.menus is not None:
            self.menus.follow_loss_plot(self._loss_plot)

    def _show_last_kl(self) -> None:
        if self._kl_bars is None:
            return
        epochs = self.history.epochs
        if epochs:
            self._kl_bars.show_kl(epochs[-1].test.kl_per_dim, epochs[-1].test.active_units)
        else:
            self._kl_bars.clear()

    # panels
    def add_panel(self, widget: QWidget, title: str) -> int:
        """Add a panel (e.g. the latent explorer) as a tab beside Training; returns its tab index."""
        return self.tabs.addTab(widget, title)

    @property
    def history(self) -> TrainingHistory:
        """The history on show: the current run's own, else the loaded model's."""
        return self.run.history if self.run is not None else self.session.history

    # training
    def start_training(self, config: TrainingConfig | None = None, *, data_dir: str | None = None
                       ) -> RunThread | None:
        """Start a run from `config` (default: the form). Returns the run, or None after an error dialog."""
        if self.run is not None and self.run.alive:
            return None
        from vaestudio.gui.training.worker import TRAINING_NICENESS, RunThread, TrainingRequest

        try:
            config = (config or self.panel.config()).validate()
            resolve_device(config.device)
        except (ConfigError, DeviceError) as error:
            dialogs.show_error(self, "Training cannot start with these settings.", str(error))
            return None
        request = TrainingRequest(config, data_dir or self.data_dir, new_run_folder(config), self.training_threads,
                                  TRAINING_NICENESS if self.training_niceness is None else self.training_niceness)
        run = RunThread(request)
        worker = run.worker
        worker.loading.connect(self.panel.show_status)
        worker.started.connect(self._on_run_started)
        worker.stepsAvailable.connect(self._on_steps)
        worker.epochFinished.connect(self._on_epoch)
        worker.snapshot.connect(self._on_snapshot)
        worker.saved.connect(self._on_saved)
        worker.stateChanged.connect(self._on_state_changed)
        worker.errored.connect(self._on_error)
        run.ended.connect(self._on_run_ended)
        self.run = run
        self._saved_path = None
        self._steps_reported = 0
        if self._loss_plot is not None:
            self._loss_plot.clear()
            self._kl_bars.clear()
        self.panel.set_running(True, config)
        self.panel.show_status(f"Loading {config.dataset}…")
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

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop a run and wait for its thread (application exit). If it does not end in time the person is told
        and chooses to wait longer or to quit anyway (every finished epoch is already saved); returns whether
        the thread has ended."""
        self.jobs.shutdown()
        run = self.run
        if run is None or not run.alive:
            return True
        while not run.stop_and_wait(timeout_ms):
            saved = self._saved_path or run.request.model_path
            if not dialogs.ask_wait_for_training(self, timeout_ms / 1000, saved, run.run.epoch):
                log.warning("quit while the training thread was still running; the model file %s holds epoch %d",
                            saved, run.run.epoch)
                return False
        return True

    def _sent_by_current_run(self) -> bool:
        """Whether the run signal being handled comes from the run on show.

        A run's thread can finish, and another model be opened (which lets the run go), while its
        last queued signals are still on their way; those must not reach the model now shown.
        """
        sender, run = self.sender(), self.run
        return run is not None and (sender is None or sender in (run.worker, run))

    def _on_run_started(self, info: RunInfo) -> None:
        if not self._sent_by_current_run():
            return
        run = self.run
        self.session.start_training(info.config or run.request.config, info.class_names, info.model_path, run.history)
        self._batches_per_epoch = info.batches_per_epoch
        if self._loss_plot is not None:
            self._loss_plot.show_history(run.history, info.batches_per_epoch)
        self._show_device(info.device)
        self.panel.show_status(f"Training on {info.train_images:,} images ({info.batches_per_epoch} batches an "
                               f"epoch), testing on {info.test_images:,}; step: {info.step} in {info.precision}")

    def _on_steps(self) -> None:
        run = self.run
        if not self._sent_by_current_run() or run.run.last_step is None:
            return
        self.panel.show_step(run.run.last_step)
        steps = len(run.history.step_loss)
        new, self._steps_reported = steps - self._steps_reported, steps
        self.stepsShown.emit(max(new, 0))

    def _on_epoch(self, result: EpochResult) -> None:
        if not self._sent_by_current_run():
            return
        if self._loss_plot is not None:
            self._loss_plot.sync()
            self._kl_bars.show_kl(result.test.kl_per_dim, result.test.active_units)
        self.panel.show_epoch(result)
        self.epochFinished.emit(result)

    def _on_snapshot(self, state: dict, epoch: int) -> None:
        if not self._sent_by_current_run():
            return
        self.session.update_weights(state, epoch, self.history)

    def _on_saved(self, path: str) -> None:
        if not self._sent_by_current_run():
            return
        self._saved_path = Path(path)
        self.statusBar().showMessage(f"Saved epoch {self.session.epoch} to {path}", 4000)

    def _on_state_changed(self, state: str) -> None:
        from vaestudio.core.training.run import RunState

        if state == RunState.PAUSED.value:
            self.panel.show_status("Paused: Resume (Ctrl+P) goes on from here.")
            self.pausedChanged.emit(True)
        elif state == RunState.RUNNING.value and self._run_state == RunState.PAUSED.value:
            self.panel.show_status("Training")
            self.pausedChanged.emit(False)
        elif state == RunState.STOPPING.value:
            self.panel.show_status("Stopping at the end of this step; the run goes back to its last epoch end…")
        self._run_state = state

    def _on_error(self, message: str) -> None:
        dialogs.show_error(self, "Training stopped.", message)

    def _on_run_ended(self, outcome: str) -> None:
        run = self.run
        if self._loss_plot is not None:
            self._loss_plot.sync()  # a stop or a failure rewound the history to its last epoch end
        self.panel.set_running(False)
        self._set_file_actions()
        folder = run.request.run_folder if run is not None else None
        trained = run.run.epochs_trained_here if run is not None else 0
        if self._discard_when_stopped and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        elif outcome in ("completed", "stopped") and self._saved_path is not None and trained:
            done = "finished" if outcome == "completed" else "stopped"
            self.panel.show_status(f"Training {done} after epoch {self.session.epoch}; the model is in "
                                   f"{self._saved_path}")
        elif outcome == "stopped":
            self.panel.show_status("Stopped before the first epoch ended: nothing was trained yet, "
                                   "so nothing was saved.")
        elif outcome == "failed":
            self.panel.show_status("Training stopped by an error." + (
                f" The model after epoch {run.run.epoch} is in {self._saved_path}." if self._saved_path else ""))
        if self._close_when_stopped:
            QTimer.singleShot(0, self.close)

    # model files
    def open_model_file(self, path: str | Path) -> bool:
        """Open a model file (VAE Studio or a PyTorch example state_dict); an error dialog if it cannot be read."""
        saved = read_model_file(self, path)
        if saved is None:
            return False
        self.show_model(saved, "file")
        self.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def show_model(self, saved: SavedModel, origin: str) -> None:
        """Make `saved` the loaded model and plot its history."""
        self.session.load_saved(saved, origin)
        if self.run is not None and not self.run.alive:
            self.run = None  # the window now shows this model, not the last run
        self.panel.show_model(saved)
        self.show_saved_history(saved.history, saved.training.batch_size)
        self._set_file_actions()

    def show_saved_history(self, history: TrainingHistory, batch_size: int) -> None:
        """Plot a saved run's history (opened, or a followed run's newest epoch): now if the Training tab is
        built, else when it is."""
        self._batches_per_epoch = batches_per_epoch(history, batch_size)
        if self._loss_plot is not None:
            self._loss_plot.show_history(history, self._batches_per_epoch)
            self._show_last_kl()

    def save_model_file(self, path: str | Path) -> bool:
        """Save the loaded model (for a run trained here: its autosaved file, optimiser state included)."""
        if not write_model_file(self, path, self.session, self._saved_path):
            return False
        self.statusBar().showMessage(f"Saved the model to {path}", 4000)
        return True

    def choose_model_to_open(self) -> None:
        path = ask_model_to_open(self)
        if path:
            self.open_model_file(path)

    def choose_where_to_save(self) -> None:
        path = ask_where_to_save(self)
        if path:
            self.save_model_file(path)

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
        if self._loss_plot is not None:
            self._loss_plot.timer.stop()
        self.jobs.shutdown()
        super().closeEvent(event)

    def add_file_action(self, text: str, slot, shortcut=None) -> QAction:
        """An entry in the File menu, above Quit (for the panels' exports)."""
        return self.menus.add_file_action(text, slot, shortcut)

    def tab_shortcuts(self) -> None:
        """View menu entries for the tabs (Training, Latent space, …) on Ctrl+1, Ctrl+2, …"""
        self.menus.add_tab_actions(self.tabs)

    def restore_splitter(self, splitter: QSplitter) -> None:
        """Give a panel's splitter (named by objectName) the sizes it had when the window last closed."""
        self._splitters.append(splitter)
        value = QSettings().value(f"window/{splitter.objectName()}")
        if value is not None:
            splitter.restoreState(value)

    def _set_file_actions(self) -> None:
        self.menus.enable_file_actions(self.run is not None and self.run.alive, self.session.has_model)

    def _show_device(self, label: str) -> None:
        self.device_in_use = label
        self.device_status.setText(f"Device: {label}")

    def _show_model_status(self) -> None:
        origin = ORIGIN_TITLES.get(self.session.origin, "")
        text = self.session.describe()
        self.model_status.setText(f"Model: {text}" + (f" ({origin})" if origin and self.session.has_model else ""))
        self._set_file_actions()

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        built = [self.training_view] if self._loss_plot is not None else []  # else: keep what was saved
        for splitter in [*built, *self._splitters]:
            settings.setValue(f"window/{splitter.objectName()}", splitter.saveState())
        self.panel.save_settings(settings)

    def _restore_settings(self) -> None:
        settings = QSettings()
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState)):
            value = settings.value(key)
            if value is not None:
                restore(value)
        self.panel.restore_settings(settings)
