"""Help > About shows the versions, the device in use and the user data folder."""

from importlib.metadata import version

import pyqtgraph as pg
import torch
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication

from vaestudio import __version__
from vaestudio.gui.widgets.about_dialog import AboutDialog


def test_help_about_shows_versions_device_and_user_data(window, qtbot, isolated_user_folders):
    window.menus.about_action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible()
    shown = {name: label.text() for name, label in dialog.values.items()}
    assert shown["torch"].startswith(torch.__version__)
    assert shown["Qt"] == f"{qVersion()} (PySide6 {version('PySide6-Essentials')})"
    assert shown["pyqtgraph"] == pg.__version__
    assert shown["Device"] == window.device_in_use and window.device_status.text().endswith(window.device_in_use)
    assert f">{isolated_user_folders}</a>" in shown["User data"]
    assert dialog.text().startswith(f"vaestudio {__version__}; torch: ")

    dialog.copy_to_clipboard()
    assert QApplication.clipboard().text() == dialog.text()
    dialog.reject()
    qtbot.waitUntil(lambda: window.findChild(AboutDialog) is None)  # deleted once closed


def test_about_shows_the_device_of_the_run(window):
    window._show_device("CUDA (test GPU)")  # what a run on the GPU reports when it starts
    window.menus.about_action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog.values["Device"].text() == "CUDA (test GPU)"
    dialog.reject()
