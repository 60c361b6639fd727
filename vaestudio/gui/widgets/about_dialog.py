"""Help > About: the version of VAE Studio and of its libraries, the device in use, where the user data lives.

The facts come from the core's `about_facts`, the same that `vaestudio --version` prints on
one line; this dialog adds the Qt version the window runs on.
"""

from __future__ import annotations

import PySide6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vaestudio.core.about import about_facts, about_line

ICON_SIZE = 64
MINIMUM_WIDTH = 440
USER_DATA = "User data"


def qt_description() -> str:
    """The Qt version the window runs on, with its Python binding's."""
    return f"{qVersion()} (PySide6 {PySide6.__version__})"


class AboutDialog(QDialog):
    """VAE Studio's version and its environment; Copy puts the one-line form on the clipboard (for bug reports)."""

    def __init__(self, parent: QWidget | None = None, device: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About VAE Studio")
        self.setObjectName("aboutDialog")
        self.setMinimumWidth(MINIMUM_WIDTH)
        self.facts = about_facts(device=device, qt=qt_description())
        (_, version), *details = self.facts

        icon = QLabel()
        icon.setPixmap(QGuiApplication.windowIcon().pixmap(ICON_SIZE, ICON_SIZE))
        title = QLabel(f"<h2>VAE Studio {version}</h2>Train a variational autoencoder on small images "
                       "and explore what it learned.")
        title.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1)

        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for name, value in details:
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if name == USER_DATA:
                label.setText(f'<a href="{QUrl.fromLocalFile(value).toString()}">{value}</a>')
                label.setToolTip("Runs, fetched datasets and settings live here; click to open the folder "
                                 "(it appears with the first run or download)")
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                label.setOpenExternalLinks(True)
            self.values[name] = label
            form.addRow(f"{name}:", label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setToolTip("Copy these facts as one line, e.g. for a bug report")
        copy.clicked.connect(self.copy_to_clipboard)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def text(self) -> str:
        """The facts on one line, as `vaestudio --version` prints them (with this window's Qt version)."""
        return about_line(self.facts)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())


def show_about(parent: QWidget, device: str | None = None) -> AboutDialog:
    """Open the About dialog window-modal, without a nested event loop; it deletes itself when closed."""
    dialog = AboutDialog(parent, device)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.open()
    return dialog
