"""The dialogs the window shows: an error with what to do, and the question asked when closing mid-training.

Error dialogs open window-modal but without a nested event loop (`open()`, not `exec()`), so
training signals keep arriving while one is shown. Every error shown is also announced on
`error_reporter.shown`, which tests and scripts can wait on.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget


class ErrorReporter(QObject):
    shown = Signal(str, str)  # title, message


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
