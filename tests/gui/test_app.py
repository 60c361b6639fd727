"""Start-up: the application and its main window carry the VAE Studio icon."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from vaestudio.gui import app


def test_the_icon_is_drawn_from_the_resources():
    icon = app.application_icon()
    assert not icon.isNull()
    assert not icon.pixmap(64, 64).isNull() and icon.pixmap(64, 64).toImage().pixelColor(32, 32).alpha() > 0


def test_the_application_and_the_window_carry_the_icon(qapp, qtbot, monkeypatch):
    qapp.setWindowIcon(QIcon())
    app.configure_application(qapp)
    assert not QApplication.windowIcon().isNull()
    qapp.setWindowIcon(QIcon())  # a window without its own icon would show this null one
    monkeypatch.setattr(app, "default_bundled_model", lambda: None)
    window = app.create_main_window()
    qtbot.addWidget(window)
    try:
        assert not window.windowIcon().isNull()
    finally:
        app.configure_application(qapp)
