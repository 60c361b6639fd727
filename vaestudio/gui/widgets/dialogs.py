"""The dialogs the window shows: an error with what to do, and the question asked when closing mid-training.

Error dialogs open window-modal but without a nested event loop (`open()`, not `exec()`), so
training signals keep arriving while one is shown. Every error shown is also announced on
`error_reporter.shown`, which tests and scripts can wait on.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget


class ErrorReporter(QObject):
    shown = Signal(str, str)  # title, message
    saved = Signal(str)       # a file written and confirmed (its path)


error_reporter = ErrorReporter()


def show_error(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """Show `message` (which says what went wrong and what to do) under a short `title`."""
    box = QMessageBox(QMessageBox.Icon.Warning, "VAE Studio", title, QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(message)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal if parent is not None else Qt.WindowModality.ApplicationModal)
    box.setObjectName("errorDialog")
    box.open()
    error_reporter.shown.emit(title, message)
    return box


def show_saved(parent: QWidget | None, title: str, path: str | Path) -> QMessageBox:
    """Say where a file went, with Open folder (the file manager on its folder); announced on `error_reporter.saved`."""
    path = Path(path).resolve()
    box = QMessageBox(QMessageBox.Icon.Information, "VAE Studio", title, QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText(f"It is in {path.parent}, named {path.name}.")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    open_button = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
    open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("savedDialog")
    box.open()
    error_reporter.saved.emit(str(path))
    return box


KEEP, DISCARD, CANCEL = "keep", "discard", "cancel"


def ask_keep_run(parent: QWidget | None) -> str:
    """Ask what to do with a run still training when the window closes: KEEP, DISCARD or CANCEL."""
    box = QMessageBox(QMessageBox.Icon.Question, "VAE Studio", "Training is still running.", parent=parent)
    box.setInformativeText("Keep the model trained so far (it is saved in the run folder), or discard the run? "
                           "Either way training stops and VAE Studio closes.")
    keep = box.addButton("Keep the run", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is keep:
        return KEEP
    if clicked is discard:
        return DISCARD
    return CANCEL


def ask_wait_for_training(parent: QWidget | None, waited_seconds: float, saved: Path | None, epoch: int) -> bool:
    """Training did not stop in time at exit: True to wait longer, False to quit anyway."""
    box = QMessageBox(QMessageBox.Icon.Warning, "VAE Studio",
                      f"Training has not stopped after {waited_seconds:.0f} seconds.", parent=parent)
    where = (f"Every finished epoch is saved: {saved} holds the model after epoch {epoch}."
             if saved is not None and epoch > 0 else "No epoch has finished yet, so there is nothing saved.")
    box.setInformativeText(f"A long step or the test-set evaluation may still be running. {where} "
                           "Wait for the run to stop, or quit now and lose only the unfinished epoch?")
    wait = box.addButton("Wait", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit now", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(wait)
    box.exec()
    return box.clickedButton() is wait
