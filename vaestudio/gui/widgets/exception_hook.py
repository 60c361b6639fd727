"""An exception that escapes a Qt slot is logged with its traceback and shown as an error dialog.

PySide6 hands an exception raised in a slot to `sys.excepthook` and carries on; the default
hook only prints it, so a menu entry that fails would seem to do nothing.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QApplication, QWidget

from vaestudio.gui.widgets.dialogs import show_error

log = logging.getLogger("vaestudio.gui")
UNEXPECTED_TITLE = "Something went wrong."


def _dialog_parent() -> QWidget | None:
    app = QApplication.instance()
    if app is None:
        return None
    return QApplication.activeWindow() or next(
        (widget for widget in QApplication.topLevelWidgets() if widget.isVisible() and widget.isWindow()), None)


def report_unexpected_error(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    """Log the exception with its traceback; show a short message in the window's error dialog."""
    log.error("unexpected error in the window:\n%s", "".join(traceback.format_exception(kind, error, tb)))
    if QApplication.instance() is None:
        return
    detail = str(error) or kind.__name__
    show_error(_dialog_parent(), UNEXPECTED_TITLE,
               f"{kind.__name__}: {detail}\n\nWhat you were doing did not finish. The full traceback is in "
               "the log (the terminal that started VAE Studio); please report it.")


def install_exception_hook() -> None:
    """Make `report_unexpected_error` the hook for exceptions nobody caught (Ctrl+C still ends the app)."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, tb)
            return
        report_unexpected_error(kind, error, tb)

    sys.excepthook = hook
