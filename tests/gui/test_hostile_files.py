"""File > Open model... refuses hostile and invalid files with a dialog; no code runs; the window keeps working."""

from __future__ import annotations

import json

from hostile_files import hostile_model_files
from model_file_tools import rewrite, write_valid_model
from PySide6.QtWidgets import QMessageBox

from vaestudio.gui import model_file_actions
from vaestudio.gui.widgets import dialogs


def _close_dialogs(window) -> None:
    for box in window.findChildren(QMessageBox):
        if box.isVisible():
            box.accept()


def _messages(qtbot, window, path) -> str:
    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=5000) as shown:
        assert not window.open_model_file(path)
    _close_dialogs(window)
    return shown.args[1]


def test_open_model_refuses_hostile_files_and_stays_usable(window, qtbot, tmp_path):
    marker = tmp_path / "MARKER"
    valid = write_valid_model(tmp_path / "valid.safetensors")
    assert window.open_model_file(valid)
    for path in hostile_model_files(tmp_path / "hostile", marker).values():
        message = _messages(qtbot, window, path)
        assert str(path) in message and "Traceback" not in message
        assert window.session.source == str(valid)  # the model shown before is still shown
    assert not marker.exists()
    assert window.open_model_file(valid)


def test_open_model_names_an_invalid_field(window, qtbot, tmp_path):
    valid = write_valid_model(tmp_path / "valid.safetensors")
    bad = rewrite(valid, tmp_path / "bad.safetensors",
                  metadata={"history_epochs": json.dumps([{"epoch": 1, "epochs": 1, "train_loss": "x"}])})
    message = _messages(qtbot, window, bad)
    assert "this file is not a valid model file: train_loss must be a number" in message
    assert not window.session.has_model


def test_an_unexpected_exception_while_opening_becomes_a_dialog(window, qtbot, tmp_path, monkeypatch):
    valid = write_valid_model(tmp_path / "valid.safetensors")

    def broken(path):
        raise ZeroDivisionError("a bug, not a bad file")

    monkeypatch.setattr(model_file_actions, "open_model", broken)
    message = _messages(qtbot, window, valid)
    assert "this file is not a valid model file: a bug, not a bad file" in message
    assert not window.session.has_model
