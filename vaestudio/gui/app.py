"""Start-up of the desktop application: QApplication, the main window, the first model shown.

Before Qt starts, `check_display` makes sure a window can open at all: Qt's X11 (xcb)
platform plugin aborts the process (exit 134) when a system library it links is missing,
so the libraries are probed here first and a missing one is reported with the
`apt-get install` line that installs it.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

# torch before anything of Qt: importing PySide6 replaces Python's `__import__` with its own (for
# PySide's feature switching), which makes every later import slower, and torch brings ~1,200
# modules. Imported first, the window is usable 0.1-0.2 s sooner (benchmarks/startup.py).
import torch  # noqa: F401

# isort: split
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from vaestudio import __version__
from vaestudio.core.errors import VaeStudioError
from vaestudio.core.models.model_files import open_model
from vaestudio.core.models.pretrained import default_bundled_model
from vaestudio.core.resources import icon_path
from vaestudio.core.training.thread_tuning import single_torch_thread
from vaestudio.gui.explorer.explorer_panel import DATASET_JOB
from vaestudio.gui.explorer.workspace import ExplorerWorkspace
from vaestudio.gui.main_window import MainWindow
from vaestudio.gui.widgets import dialogs
from vaestudio.gui.widgets.exception_hook import install_exception_hook

ORGANIZATION = "VAE Studio"
APPLICATION = "VAE Studio"
ICON_CHECK_SIZE = 64
DESKTOP_FILE = "vaestudio"  # packaging/vaestudio.desktop: lets Wayland show the window under its entry
GIL_SWITCH_INTERVAL = 0.0005

log = logging.getLogger(__name__)

# The system libraries that Qt's xcb plugin (libqxcb.so) and its libQt6XcbQpa link directly, with
# the Debian (and Ubuntu) package of each. Qt's own libraries come with PySide6.
XCB_PLUGIN_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}


class DisplayUnavailableError(VaeStudioError):
    """The window cannot open here: no display, or system libraries Qt needs for it are missing."""


def library_loads(name: str) -> bool:
    """Whether the shared library `name` (e.g. 'libxcb-icccm.so.4') can be loaded, as Qt's plugin would load it."""
    import PySide6

    if (Path(PySide6.__file__).parent / "Qt" / "lib" / name).is_file():
        return True
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def platform_will_be_xcb(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will open its windows through X11 (xcb): on Linux, unless another platform is asked for
    (QT_QPA_PLATFORM) or a Wayland session will be used."""
    environ = os.environ if environ is None else environ
    if not (sys.platform if platform is None else platform).startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return requested.split(";")[0].split(":")[0].strip().lower() == "xcb"
    return not (environ.get("XDG_SESSION_TYPE") == "wayland" and environ.get("WAYLAND_DISPLAY"))


def check_display(environ: Mapping[str, str] | None = None, platform: str | None = None,
                  loads: Callable[[str], bool] | None = None) -> None:
    """Raise DisplayUnavailableError, with what to do, where Qt's xcb platform would abort the process."""
    environ = os.environ if environ is None else environ
    if not platform_will_be_xcb(environ, platform):
        return
    if not environ.get("DISPLAY"):
        raise DisplayUnavailableError(
            "there is no display to open the window on (DISPLAY is not set). Start vaestudio from a desktop "
            "session (or `ssh -X`), or use the command line without a window: `vaestudio --help`.")
    loads = library_loads if loads is None else loads
    missing = [name for name in XCB_PLUGIN_LIBRARIES if not loads(name)]
    if missing:
        packages = " ".join(dict.fromkeys(XCB_PLUGIN_LIBRARIES[name] for name in missing))
        raise DisplayUnavailableError(
            f"the window cannot open: Qt's X11 platform plugin (xcb) needs system libraries that are not "
            f"installed here ({', '.join(missing)}). On Debian or Ubuntu install them with\n"
            f"    sudo apt-get install {packages}\n"
            "(on other systems, the packages that provide these files). The command line works without them "
            "(`vaestudio --help`).")


def application_icon() -> QIcon:
    """The VAE Studio icon, or an empty icon (logged) when the resources are missing."""
    try:
        return QIcon(str(icon_path()))
    except VaeStudioError as error:
        log.warning("%s", error)
        return QIcon()


def configure_application(app: QApplication) -> None:
    """Names for QSettings, the icon, pyqtgraph's look, a short GIL switch interval, one torch thread,
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
    app.setWindowIcon(application_icon())
    pg.setConfigOptions(background="w", foreground=(60, 60, 60), antialias=False)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    if not gc.get_freeze_count():
        gc.freeze()


def warm_up_torch() -> None:
    """Import what the first training run would otherwise import on its thread.

    torch.optim imports torch._dynamo on the first optimiser built: 1-2 s of imports that
    hold the GIL in long stretches, freezing the window for up to ~150 ms at a time when
    Start is first pressed. `run_app` does it on a thread of its own once the window is usable.
    """
    import torch._dynamo  # noqa: F401


def warm_up_torch_in_background() -> threading.Thread:
    """`warm_up_torch` on its own thread, started now; a failure is logged (Start would import it again).

    Done after the window is usable rather than before it shows: start-up was 2.5 s slower
    (benchmarks/startup.py) with the import on the way. The import holds the GIL in long
    stretches, so the window may stutter in the first seconds; that is a price paid once,
    while a person looks at the map, rather than when Start is pressed.
    """
    def warm_up() -> None:
        try:
            warm_up_torch()
        except Exception:  # noqa: BLE001 - any failure here only moves the cost to the first run
            log.warning("warming up torch failed; the first training run will import it", exc_info=True)

    thread = threading.Thread(target=warm_up, name="torch warm-up")
    thread.start()
    return thread


def load_bundled_model(window: MainWindow) -> bool:
    """Load the bundled default model into the session when no other model is loaded."""
    if window.session.has_model:
        return False
    try:
        path = default_bundled_model()
        if path is None:
            return False
        saved = open_model(path)
    except (VaeStudioError, OSError) as error:
        log.warning("the bundled model could not be read: %s", error)
        window.statusBar().showMessage(f"The bundled model could not be read: {error}", 10_000)
        return False
    window.show_model(saved, "bundled")
    return True


def load_model_file(window: MainWindow, path: str | Path) -> str | None:
    """Show the model in `path`; returns why it could not be read (None when it was shown)."""
    try:
        saved = open_model(path)
    except VaeStudioError as error:
        log.warning("the model %s could not be opened: %s", path, error)
        return str(error)
    window.show_model(saved, "file")
    window.statusBar().showMessage(f"Opened {path}", 4000)
    return None


def create_main_window(data_dir: str | None = None, model_path: str | Path | None = None) -> MainWindow:
    """The window with the explorer and its panels, showing the model in `model_path` if given, else the bundled one.

    A model file that cannot be read is reported in an error dialog once the event loop runs
    (so the dialog opens over the shown window), and the bundled model is shown instead.
    """
    window = MainWindow()
    window.setWindowIcon(application_icon())
    window.data_dir = data_dir
    window.workspace = ExplorerWorkspace(window, data_dir=data_dir)
    # A newcomer starts on the map, to click a digit into being; shown before the model loads, so that the
    # Training tab behind it draws the model's history only when it is opened.
    window.tabs.setCurrentIndex(window.workspace.map_tab)
    problem = load_model_file(window, model_path) if model_path is not None else None
    shown = (model_path is not None and problem is None) or load_bundled_model(window)
    if not shown:  # nothing to explore: start where a model is trained
        window.tabs.setCurrentIndex(0)
    if problem is not None:
        instead = " VAE Studio shows its bundled model instead." if window.session.origin == "bundled" else ""
        QTimer.singleShot(0, window, lambda: dialogs.show_error(
            window, "The model file could not be opened.", f"{problem}{instead}"))
    return window


def when_usable(window: MainWindow, callback: Callable[[], None]) -> None:
    """Call `callback` once, on the GUI thread, when the window is usable.

    Usable: the latent map shows the loaded model's encoded test images (of a large test split,
    the first few while the rest are encoded: see `map_updates.PREVIEW_POINTS`), or says that
    there are no test images (the map still decodes clicks), or there is no model to show.
    """
    _when_map_drawn(window, callback, complete=False)


def _when_map_drawn(window: MainWindow, callback: Callable[[], None], complete: bool) -> None:
    """`when_usable`; with `complete`, only once the map holds all the test images it will show."""
    explorer = window.workspace.explorer
    called = False

    def once(*_args) -> None:
        nonlocal called
        if not called and not (complete and explorer.map_preview):
            called = True
            QTimer.singleShot(0, callback)  # after the slots that draw what was just computed

    if not window.session.has_model or (explorer.result is not None and not (complete and explorer.map_preview)):
        once()
        return
    explorer.mapUpdated.connect(once)
    explorer.jobs.failed.connect(lambda kind, _message: once() if kind == DATASET_JOB else None)


def _map_contents(window: MainWindow) -> str:
    explorer = window.workspace.explorer
    if explorer.result is not None:
        return f"{len(explorer.result.indices):,} test images of {explorer.dataset_spec}"
    return "no test images" if window.session.has_model else "no model"


def report_startup(window: MainWindow, started: float) -> None:
    """For `vaestudio --startup-check`: paint, print the start-up time and what the map shows; then the time
    until the map holds every test image, and the time torch takes to import what the first training run
    needs (so that a frozen build is checked for it as well); quit.
    """
    window.repaint()
    ready = time.perf_counter() - started
    print(f"VAE Studio {__version__} ready in {ready:.2f} s: {window.session.describe()}, {_map_contents(window)} "
          "on the map", flush=True)
    if QApplication.windowIcon().pixmap(ICON_CHECK_SIZE).isNull():
        print("the application icon could not be drawn (is Qt's SVG icon engine missing?)", flush=True)

    def finish() -> None:
        window.repaint()
        print(f"map complete in {time.perf_counter() - started:.2f} s: {_map_contents(window)}", flush=True)
        warm_up_started = time.perf_counter()
        warm_up_torch()
        print(f"torch warm-up for training: {time.perf_counter() - warm_up_started:.2f} s", flush=True)
        window.close()
        QApplication.quit()

    _when_map_drawn(window, finish, complete=True)


def run_app(argv: list[str] | None = None, model_path: str | Path | None = None,
            startup_check_since: float | None = None) -> int:
    """Open the VAE Studio window (with the model in `model_path`, if given) and run until it closes.

    Returns the exit status; raises DisplayUnavailableError before Qt starts when no window can open.
    With `startup_check_since` (a `time.perf_counter()` reading taken when the command started),
    quit once the window is usable and print how long that took.
    """
    check_display()
    app = QApplication.instance() or QApplication(sys.argv if argv is None else ["vaestudio", *argv])
    configure_application(app)
    app.setDesktopFileName(DESKTOP_FILE)
    install_exception_hook()
    window = create_main_window(model_path=model_path)
    gc.freeze()  # what the window made too
    app.aboutToQuit.connect(window.shutdown)
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()  # lets Python see Ctrl+C while Qt's event loop runs
    wake.timeout.connect(lambda: None)
    wake.start(250)
    window.show()
    if startup_check_since is None:
        when_usable(window, warm_up_torch_in_background)
    else:
        when_usable(window, lambda: report_startup(window, startup_check_since))
    return app.exec()
