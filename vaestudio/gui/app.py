"""Start-up of the desktop application: QApplication, the main window, the bundled model."""

from __future__ import annotations

import gc
import logging
import signal
import sys

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from vaestudio.core.errors import VaeStudioError
from vaestudio.core.models.model_files import open_model
from vaestudio.core.models.pretrained import default_bundled_model
from vaestudio.core.training.thread_tuning import single_torch_thread
from vaestudio.gui.explorer.workspace import ExplorerWorkspace
from vaestudio.gui.main_window import MainWindow

ORGANIZATION = "VAE Studio"
APPLICATION = "VAE Studio"
GIL_SWITCH_INTERVAL = 0.0005

log = logging.getLogger(__name__)


def configure_application(app: QApplication) -> None:
    """Names for QSettings, pyqtgraph's look, a short GIL switch interval, one torch thread,
    and the objects made so far kept out of the garbage collector's full passes.

    The training thread runs Python between torch kernels; a 0.5 ms switch interval (instead
    of 5 ms) lets the GUI thread take the GIL back sooner: benchmarks/ui_latency.py measured
    p99 lateness 9-13 ms against 13-16 ms with 2 ms, at the same training rate.

    Only the training thread runs torch on several cores: see `single_torch_thread` (a GUI
    thread with its own OpenMP team cut the training rate by 40%).

    The imports leave some 370,000 objects (torch, Qt, pyqtgraph) that the collector's full
    passes walk at moments nobody chooses: 100-500 ms of a frozen window, measured as a
    330 ms frame while panning the map. `gc.freeze()` takes them out of those passes (once a
    process: what later windows leave behind must stay collectable).
    """
    single_torch_thread()
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    pg.setConfigOptions(background="w", foreground=(60, 60, 60), antialias=False)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    if not gc.get_freeze_count():
        gc.freeze()


def warm_up_torch() -> None:
    """Import what the first training run would otherwise import on its thread.

    torch.optim imports torch._dynamo on the first optimiser built: 1-2 s of imports that
    hold the GIL in long stretches, freezing the window for up to ~150 ms at a time when
    Start is first pressed. Done here, before the window shows, it costs that time once.
    """
    import torch._dynamo  # noqa: F401


def load_bundled_model(window: MainWindow) -> bool:
    """Load the bundled default model into the session when no other model is loaded."""
    if window.session.has_model:
        return False
    path = default_bundled_model()
    if path is None:
        return False
    try:
        saved = open_model(path)
    except (VaeStudioError, OSError) as error:
        log.warning("the bundled model %s could not be read: %s", path, error)
        window.statusBar().showMessage(f"The bundled model could not be read: {error}", 10_000)
        return False
    window.show_model(saved, "bundled")
    return True


def create_main_window(data_dir: str | None = None) -> MainWindow:
    """The window with the explorer and its panels, showing the bundled model when nothing else is loaded."""
    window = MainWindow()
    window.data_dir = data_dir
    window.workspace = ExplorerWorkspace(window, data_dir=data_dir)
    if load_bundled_model(window):  # a newcomer starts on the map, to click a digit into being
        window.tabs.setCurrentIndex(window.workspace.map_tab)
    return window


def run_app(argv: list[str] | None = None) -> int:
    """Open the VAE Studio window and run until it closes; returns the exit status."""
    app = QApplication.instance() or QApplication(sys.argv if argv is None else ["vaestudio", *argv])
    configure_application(app)
    warm_up_torch()
    window = create_main_window()
    gc.freeze()  # what the warm-up and the window made too
    app.aboutToQuit.connect(window.shutdown)
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()  # lets Python see Ctrl+C while Qt's event loop runs
    wake.timeout.connect(lambda: None)
    wake.start(250)
    window.show()
    return app.exec()
