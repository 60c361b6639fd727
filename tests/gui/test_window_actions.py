"""Every menu entry and shortcut of the full window does its job once, without an exception;
an exception in a slot is logged with its traceback and shown as an error dialog."""

from __future__ import annotations

import functools
import logging
import sys

import pytest
from full_window import full_window  # noqa: F401  (fixture)
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QShortcut
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMenu, QMessageBox

from vaestudio.gui.widgets import dialogs
from vaestudio.gui.widgets.exception_hook import (
    UNEXPECTED_TITLE,
    install_exception_hook,
)

LONG = 60_000


def menu_actions(menu: QMenu) -> list[QAction]:
    """The entries of `menu` and of its submenus, depth first, without separators."""
    found = []
    for action in menu.actions():
        if action.menu() is not None:
            found.extend(menu_actions(action.menu()))
        elif not action.isSeparator():
            found.append(action)
    return found


@pytest.fixture
def no_file_dialogs(monkeypatch):
    """File dialogs answer 'cancelled' at once and record their captions."""
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda parent, caption, *a, **k: asked.append(caption) or ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda parent, caption, *a, **k: asked.append(caption) or ("", ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda parent, caption, *a, **k: asked.append(caption) or "")
    return asked


@pytest.fixture
def modal_closer():
    """Closes every modal message box (About, About Qt) shortly after it opens; records their titles."""
    closed = []

    def close_modal() -> None:
        widget = QApplication.activeModalWidget()
        if isinstance(widget, QMessageBox):
            closed.append(widget.windowTitle())
            widget.close()

    timer = QTimer()
    timer.timeout.connect(close_modal)
    timer.start(50)
    yield closed
    timer.stop()


def close_new_windows(before: set) -> list[str]:
    """Close the top-level windows that opened since `before`; their object names."""
    names = []
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible() and widget not in before:
            names.append(widget.objectName() or type(widget).__name__)
            widget.close()
    return names


def test_every_menu_entry_runs_once(full_window, qtbot, qapp, tiny_dataset, no_file_dialogs, modal_closer, request):
    window = full_window
    # Quit closes the last window: the application must not quit under the next tests' event loops
    request.addfinalizer(functools.partial(qapp.setQuitOnLastWindowClosed, qapp.quitOnLastWindowClosed()))
    qapp.setQuitOnLastWindowClosed(False)
    window.panel.use_folder(tiny_dataset.removeprefix("idx:"))
    window.panel.epochs.setValue(1)
    errors = []
    dialogs.error_reporter.shown.connect(lambda title, message: errors.append(title))
    actions = [action for top in window.menuBar().actions() for action in menu_actions(top.menu())]
    quit_action = next(action for action in actions if action.text() == "&Quit")
    texts = [action.text() for action in actions]
    assert "&Export images…" in texts and "&About VAE Studio" in texts
    opened: dict[str, list[str]] = {}
    for action in actions:
        if action is quit_action:
            continue
        before = set(QApplication.topLevelWidgets())
        if action is window.panel.stop_action:
            qtbot.waitUntil(lambda: window.panel.stop_action.isEnabled(), timeout=LONG)
        action.trigger()
        QTest.qWait(20)
        opened[action.text()] = close_new_windows(before)
        if action is window.panel.stop_action:
            qtbot.waitUntil(lambda: not window.run.alive, timeout=LONG)
    assert errors == []
    assert opened["&Export images…"] == ["exportDialog"]
    assert {"Open model", "Save model as", "Export plot"} <= set(no_file_dialogs)
    assert any("About" in title for title in modal_closer)
    assert window.workspace.tools.currentIndex() == window.workspace.tools.count() - 1  # the last View entry
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=LONG)


def test_every_shortcut_is_unique_and_fires_its_entry(full_window, qtbot, no_file_dialogs, modal_closer):
    """No two entries or QShortcuts of the window share a key sequence, and each one fires when activated."""
    window = full_window
    actions = [action for action in window.findChildren(QAction) if not action.shortcut().isEmpty()]
    shortcuts = window.findChildren(QShortcut)
    keys = [item.shortcut().toString() for item in actions] + [item.key().toString() for item in shortcuts]
    assert {"Ctrl+E", "Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+O"} <= set(keys)
    assert len(keys) == len(set(keys)), sorted(keys)
    fired = []
    for action in actions:
        if action.text() == "&Quit" or not action.isEnabled():
            continue
        before = set(QApplication.topLevelWidgets())
        with qtbot.waitSignal(action.triggered, timeout=LONG):
            action.activate(QAction.ActionEvent.Trigger)  # what the shortcut map does on its key
        fired.append(action.shortcut().toString())
        close_new_windows(before)
    for shortcut in shortcuts:
        with qtbot.waitSignal(shortcut.activated, timeout=LONG):
            shortcut.activated.emit()
        fired.append(shortcut.key().toString())
    assert "Ctrl+E" in fired and "Ctrl+1" in fired


class Emitter(QObject):
    ping = Signal()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_and_shown(qtbot, caplog, monkeypatch):
    """The hook `vaestudio` installs: traceback in the log, a short message in our error dialog."""
    monkeypatch.setattr("sys.excepthook", sys.excepthook)  # restored after the test
    install_exception_hook()
    shown = []
    dialogs.error_reporter.shown.connect(lambda title, message: shown.append((title, message)))
    emitter = Emitter()

    def broken_slot() -> None:
        raise RuntimeError("the slot failed")

    emitter.ping.connect(broken_slot)
    with caplog.at_level(logging.ERROR, logger="vaestudio.gui"):
        emitter.ping.emit()
    assert shown and shown[0][0] == UNEXPECTED_TITLE and "RuntimeError: the slot failed" in shown[0][1]
    assert "Traceback" in caplog.text and "broken_slot" in caplog.text
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox):
            widget.close()


def test_view_menu_names_the_tabs_and_terms(full_window):
    entries = {action.text(): action.shortcut().toString() for action in menu_actions(full_window.menus.view_menu)}
    assert entries["Training"] == "Ctrl+1" and entries["Latent space"] == "Ctrl+2"
    assert entries["Interpolation"] == "Ctrl+3" and entries["Sketch pad"] == "Ctrl+6"
    assert {"Show loss", "Show reconstruction", "Show KL"} <= set(entries)
    training = next(a for a in menu_actions(full_window.menus.view_menu) if a.text() == "Training")
    training.trigger()
    assert full_window.tabs.currentIndex() == 0
