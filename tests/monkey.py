"""A seeded random walk of GUI actions over the whole window, offscreen: the monkey test.

Every button, slider, spin box, combo box, check box, tab and menu action is found by walking the
widget tree; the walk also clicks and drags on the latent map and the sketch pad, opens the
bundled models (and a broken file), saves, and starts, pauses and stops short trainings on tiny
data. Modal file dialogs and questions are answered by patched static methods; dialogs that open
window-modal are closed by the walk. It counts uncaught exceptions (sys.excepthook) and Qt
warnings (qInstallMessageHandler); each warning must be one of EXPLAINED_WARNINGS.

    python -m tests.monkey --seed 1 --actions 2000     (from the repository root)

tests/gui/test_monkey.py runs a short walk (300 actions) in the normal suite.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

# Qt messages that are not defects, with the reason. Anything else the walk meets is reported.
EXPLAINED_WARNINGS = {
    "This plugin does not support propagateSizeHints()":
        "the offscreen platform plugin cannot forward size hints to a window system; harmless without one",
    "This plugin does not support raise()":
        "the offscreen platform plugin has no window stack to raise a window in (a dialog's raise_())",
}
SKIPPED_ACTION_WORDS = ("quit", "exit", "close")  # the walk ends the window itself, at the end
FORM_FIELDS_KEPT = ("dataset", "epochs", "batch_size", "hidden", "learning_rate", "device")  # stay tiny and on CPU


@dataclass
class MonkeyReport:
    seed: int
    actions: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    runs_started: int = 0
    threads_left: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexplained_warnings(self) -> dict[str, int]:
        return {text: n for text, n in self.warnings.items() if not any(known in text for known in EXPLAINED_WARNINGS)}

    def summary(self) -> str:
        done = ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items()))
        warned = "; ".join(f"{n} x {text[:100]}" for text, n in self.warnings.items()) or "none"
        return (f"monkey seed {self.seed}: {self.actions} actions in {self.seconds:.0f} s ({done}); "
                f"{self.runs_started} training runs; {len(self.exceptions)} uncaught exceptions; "
                f"Qt warnings: {warned}; threads left: {self.threads_left or 'none'}")


def _write_tiny_idx(folder: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_data import write_idx_folder

    write_idx_folder(folder, train=128, test=48)
    return folder


class Monkey:
    """Walks the window at random; `run(n)` takes n actions and returns a MonkeyReport."""

    def __init__(self, window, seed: int, workdir: Path, qtbot=None) -> None:
        from vaestudio.core.models.pretrained import bundled_models

        self.window = window
        self.random = random.Random(seed)
        self.report = MonkeyReport(seed)
        self.workdir = workdir
        self.qtbot = qtbot
        self.models = [str(path) for path in bundled_models()]
        broken = workdir / "broken.safetensors"
        broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a model}")
        self.files_to_open = [*self.models, str(broken), str(workdir / "missing.safetensors")]
        self.runs = []
        window.runStarted.connect(self.runs.append)

    # --- what the walk can do ---

    def _visible(self, kind):
        return [widget for widget in self.window.findChildren(kind)
                if widget.isVisible() and widget.isEnabled() and widget.window() is self.window]

    def click_button(self) -> None:
        from PySide6.QtWidgets import QAbstractButton

        buttons = self._visible(QAbstractButton)
        if buttons:
            self.random.choice(buttons).click()

    def change_value(self) -> None:
        from PySide6.QtWidgets import (
            QAbstractSlider,
            QAbstractSpinBox,
            QComboBox,
            QDoubleSpinBox,
            QSpinBox,
        )

        form = self.window.panel
        kept = {id(getattr(form, name, None)) for name in FORM_FIELDS_KEPT}
        widgets = [w for w in self._visible(QAbstractSlider) + self._visible(QAbstractSpinBox) + self._visible(QComboBox)
                   if id(w) not in kept]
        if not widgets:
            return
        widget = self.random.choice(widgets)
        if isinstance(widget, QComboBox):
            if widget.count():
                widget.setCurrentIndex(self.random.randrange(widget.count()))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(self.random.uniform(widget.minimum(), min(widget.maximum(), widget.minimum() + 10)))
        elif isinstance(widget, QSpinBox):
            widget.setValue(self.random.randint(widget.minimum(), min(widget.maximum(), widget.minimum() + 40)))
        elif isinstance(widget, QAbstractSlider):
            widget.setValue(self.random.randint(widget.minimum(), widget.maximum()))

    def trigger_action(self) -> None:
        from PySide6.QtGui import QAction

        # pyqtgraph's own context-menu actions expect the right-click that opens their menu first (its
        # "Export..." reads the item clicked): they are not ours to trigger out of context.
        actions = [action for action in self.window.findChildren(QAction)
                   if action.isEnabled() and action.text() and not action.menu()
                   and not type(action.parent()).__module__.startswith("pyqtgraph")
                   and not any(word in action.text().lower() for word in SKIPPED_ACTION_WORDS)]
        if actions:
            self.random.choice(actions).trigger()

    def switch_tab(self) -> None:
        from PySide6.QtWidgets import QTabWidget

        tabs = self._visible(QTabWidget)
        if tabs:
            tab = self.random.choice(tabs)
            tab.setCurrentIndex(self.random.randrange(tab.count()))

    def _point(self, widget):
        from PySide6.QtCore import QPoint

        return QPoint(self.random.randrange(max(widget.width(), 1)), self.random.randrange(max(widget.height(), 1)))

    def mouse_on_canvas(self) -> None:
        import pyqtgraph as pg
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        from vaestudio.gui.panels.sketch import SketchCanvas

        targets = self._visible(SketchCanvas)
        targets += [view.viewport() for view in self._visible(pg.GraphicsView)]
        if not targets:
            return
        target = self.random.choice(targets)
        start = self._point(target)
        QTest.mousePress(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        for _ in range(self.random.randint(0, 5)):
            QTest.mouseMove(target, self._point(target), 5)
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, self._point(target))

    def open_model(self) -> None:
        self.window.open_model_file(self.random.choice(self.files_to_open))

    def train(self) -> None:
        run = self.window.run
        if run is None or not run.alive:
            self.window.panel.start_action.trigger()
        else:
            self.random.choice([self.window.toggle_pause, self.window.stop_training, self.window.toggle_pause])()

    def wait(self) -> None:
        from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(self.random.randint(1, 60), loop.quit)
        loop.exec()
        QCoreApplication.processEvents()

    def close_dialogs(self) -> None:
        from PySide6.QtWidgets import QApplication, QDialog

        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()

    ACTIONS = (("click_button", 24), ("change_value", 20), ("trigger_action", 10), ("switch_tab", 10),
               ("mouse_on_canvas", 14), ("open_model", 3), ("train", 6), ("wait", 10), ("close_dialogs", 3))

    # --- the walk ---

    def run(self, count: int) -> MonkeyReport:
        from PySide6.QtCore import QCoreApplication

        started = time.perf_counter()
        names = [name for name, _ in self.ACTIONS]
        weights = [weight for _, weight in self.ACTIONS]
        for _ in range(count):
            name = self.random.choices(names, weights)[0]
            try:
                getattr(self, name)()
            except Exception:  # noqa: BLE001 - what a slot raises is what the walk looks for
                self.report.exceptions.append(f"{name}: {traceback.format_exc()}")
            QCoreApplication.processEvents()
            self.report.actions += 1
            self.report.counts[name] = self.report.counts.get(name, 0) + 1
        self.finish()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def finish(self) -> None:
        from PySide6.QtCore import QCoreApplication, QDeadlineTimer

        self.close_dialogs()
        self.window.close_policy = "discard"
        run = self.window.run
        if run is not None and run.alive:
            run.stop_and_wait(60_000)
        deadline = QDeadlineTimer(30_000)
        while any(not r.thread.isFinished() for r in self.runs) and not deadline.hasExpired():
            QCoreApplication.processEvents()
        self.window.jobs.shutdown()
        for _ in range(20):
            QCoreApplication.processEvents()
        self.window.close()
        QCoreApplication.processEvents()
        self.report.runs_started = len(self.runs)
        self.report.threads_left = [f"training run {i}" for i, r in enumerate(self.runs) if not r.thread.isFinished()]


def install_spies(report: MonkeyReport):
    """sys.excepthook and Qt's message handler record into `report`; returns a function that removes them."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    previous_hook = sys.excepthook

    def hook(kind, value, trace):
        report.exceptions.append("".join(traceback.format_exception(kind, value, trace)))

    def on_message(message_type, context, text):
        if message_type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            report.warnings[text] = report.warnings.get(text, 0) + 1

    sys.excepthook = hook
    previous_handler = qInstallMessageHandler(on_message)

    def remove() -> None:
        sys.excepthook = previous_hook
        qInstallMessageHandler(previous_handler)

    return remove


def patch_modal_dialogs(workdir: Path, rng: random.Random, open_choices: list[str]) -> list:
    """Answer every static file dialog and blocking question without showing it; returns undo functions."""
    from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMenu, QMessageBox

    from vaestudio.gui.widgets import dialogs

    saves = iter(range(10**9))
    tiny = str(workdir / "tiny")
    replacements = [
        (QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (rng.choice(open_choices + [""]), ""))),
        (QFileDialog, "getSaveFileName",
         staticmethod(lambda *a, **k: (str(workdir / "saved" / f"file-{next(saves)}.png"), ""))),
        (QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: rng.choice([tiny, ""]))),
        (QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.No)),
        (QMessageBox, "warning", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)),
        (QMessageBox, "information", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)),
        (QMessageBox, "critical", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Ok)),
        (QMessageBox, "about", staticmethod(lambda *a, **k: None)),
        (QApplication, "aboutQt", staticmethod(lambda *a, **k: None)),
        (QDialog, "exec", lambda self: 0),
        (QMessageBox, "exec", lambda self: 0),
        (QMenu, "exec", lambda self, *a, **k: None),
        (dialogs, "ask_keep_run", lambda parent: dialogs.DISCARD),
        (dialogs, "ask_wait_for_training", lambda *a, **k: False),
    ]
    undo = []
    for owner, name, value in replacements:
        original = owner.__dict__.get(name, getattr(owner, name))
        setattr(owner, name, value)
        undo.append(lambda owner=owner, name=name, original=original: setattr(owner, name, original))
    (workdir / "saved").mkdir(exist_ok=True)
    return undo


def prepare_window(workdir: Path):
    """The full window (explorer, panels, bundled model) with the Run form set to tiny data on the CPU."""
    from vaestudio.core.models.networks import ModelConfig
    from vaestudio.core.models.training_config import TrainingConfig
    from vaestudio.gui.app import create_main_window

    tiny = _write_tiny_idx(workdir / "tiny")
    window = create_main_window()
    window.training_threads = 1
    window.panel.set_config(TrainingConfig(dataset=f"idx:{tiny}", model=ModelConfig("mlp", 4, 32), epochs=2,
                                           batch_size=64, device="cpu"))
    window.resize(1200, 800)
    window.show()
    return window


def walk(seed: int, actions: int, workdir: Path, qtbot=None) -> MonkeyReport:
    """Run the walk in the current QApplication; the window is created, walked and closed."""
    from vaestudio.core.models.pretrained import bundled_models

    rng = random.Random(seed + 1)
    undo = patch_modal_dialogs(workdir, rng, [str(path) for path in bundled_models()])
    report = MonkeyReport(seed)
    remove_spies = install_spies(report)
    try:
        window = prepare_window(workdir)
        monkey = Monkey(window, seed, workdir, qtbot)
        monkey.report = report
        monkey.run(actions)
    finally:
        remove_spies()
        for function in reversed(undo):
            function()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--actions", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    workdir = Path(tempfile.mkdtemp(prefix="vaestudio-monkey-"))
    os.environ["VAESTUDIO_HOME"] = str(workdir / "home")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from vaestudio.gui.app import configure_application

    app = QApplication.instance() or QApplication([])
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(workdir / "settings"))
    configure_application(app)
    before = set(threading.enumerate())
    report = walk(args.seed, args.actions, workdir)
    extra = [t.name for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    report.threads_left += extra
    print(report.summary())
    for text in report.exceptions[:5]:
        print(text, file=sys.stderr)
    for text, reason in EXPLAINED_WARNINGS.items():
        if any(text in seen for seen in report.warnings):
            print(f"explained Qt warning: {text!r}: {reason}")
    failed = report.exceptions or report.unexplained_warnings or report.threads_left
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
