"""Every failure a person can meet becomes a dialog with the message; the window keeps working."""

from __future__ import annotations

import math

import pytest
from PySide6.QtWidgets import QMessageBox

from vaestudio.core.models.model_files import open_model
from vaestudio.core.training import steps
from vaestudio.gui.widgets import dialogs


def _visible_dialogs(window) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


class _ErrorsShown:
    """Collects the messages of the error dialogs shown (they may come before or after the run ends)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        dialogs.error_reporter.shown.connect(self._collect)

    def _collect(self, title: str, message: str) -> None:
        self.messages.append(message)


def _close_dialogs(window) -> None:
    for box in _visible_dialogs(window):
        box.accept()


def test_an_unreadable_model_file_shows_a_dialog(window, qtbot, tmp_path):
    window.show()
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert not window.open_model_file(path)
    title, message = shown.args
    assert "could not be opened" in title and str(path) in message
    boxes = _visible_dialogs(window)
    assert len(boxes) == 1 and str(path) in boxes[0].informativeText()
    assert "Traceback" not in message
    assert not window.session.has_model
    _close_dialogs(window)


def test_a_missing_model_file_shows_a_dialog(window, qtbot, tmp_path):
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert not window.open_model_file(tmp_path / "nowhere.safetensors")
    assert "No model file" in shown.args[1]
    _close_dialogs(window)


def test_a_bad_dataset_folder_shows_a_dialog(window, qtbot, tmp_path):
    window.show()
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a dataset")
    before = window.panel.dataset.currentData()
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert not window.panel.use_folder(folder)
    assert "cannot be used as a dataset" in shown.args[0]
    assert "IDX" in shown.args[1] and "sub-folder" in shown.args[1]
    assert window.panel.dataset.currentData() == before
    _close_dialogs(window)


def test_a_dataset_that_fails_to_load_in_the_thread_shows_a_dialog(window, qtbot, tiny_config, tmp_path):
    config = tiny_config(dataset=f"idx:{tmp_path / 'gone'}")
    shown = _ErrorsShown()
    run = window.start_training(config)
    with qtbot.waitSignals([dialogs.error_reporter.shown, run.ended], timeout=30_000):
        pass
    assert run.outcome == "failed"
    assert "does not exist" in shown.messages[0]
    assert window.panel.start_action.isEnabled()
    _close_dialogs(window)
    with qtbot.waitSignal(window.runStarted):  # the window still trains
        run = window.start_training(tiny_config(epochs=1))
    with qtbot.waitSignal(run.ended, timeout=30_000) as ended:
        pass
    assert ended.args == ["completed"]


def test_a_non_finite_loss_shows_a_dialog_and_keeps_the_last_epoch_end(window, qtbot, tiny_config, monkeypatch):
    original_compute = steps.FusedMLPStep.compute
    calls = []

    def diverging(self, x, beta, generator):  # finite through epoch 1, NaN in epoch 2
        values = original_compute(self, x, beta, generator)
        calls.append(1)
        return [math.nan] * 3 if len(calls) > 3 else values

    monkeypatch.setattr(steps.FusedMLPStep, "compute", diverging)
    shown = _ErrorsShown()
    run = window.start_training(tiny_config(epochs=3, batch_size=64))  # 3 batches an epoch
    with qtbot.waitSignals([dialogs.error_reporter.shown, run.ended], timeout=30_000):
        pass
    assert "nan" in shown.messages[0].lower() and "learning rate" in shown.messages[0]
    saved = open_model(run.request.model_path)
    assert saved.epoch == 1 == window.session.epoch and len(saved.history.step_loss) == 3
    window.loss_plot.redraw()
    assert window.loss_plot.raw["loss"].count == 3
    assert window.session.has_model
    _close_dialogs(window)


def test_an_unexpected_error_becomes_a_short_message(window, qtbot, tiny_config, monkeypatch):
    from vaestudio.core.training import run as core_run

    def broken(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(core_run, "load_dataset", broken)
    shown = _ErrorsShown()
    run = window.start_training(tiny_config())
    with qtbot.waitSignals([dialogs.error_reporter.shown, run.ended], timeout=30_000):
        pass
    message = shown.messages[0]
    assert "RuntimeError: the disk caught fire" in message and "Traceback" not in message
    _close_dialogs(window)


@pytest.mark.parametrize("device", ["cuda:7", "mps"])
def test_a_missing_device_cannot_start(window, qtbot, tiny_config, device):
    from vaestudio.core.training.devices import available_devices

    if device in available_devices():
        pytest.skip(f"{device} exists here")
    with qtbot.waitSignal(dialogs.error_reporter.shown) as shown:
        assert window.start_training(tiny_config(device=device)) is None
    assert "cannot start" in shown.args[0]
    assert window.run is None
    _close_dialogs(window)


def test_a_named_dataset_unavailable_offline_shows_what_to_do(window, qtbot, tiny_config, monkeypatch):
    from vaestudio.core.data import fetching

    def offline(name, entry, data_dir, progress, attempts):
        attempts.append("torchvision download: <urlopen error [Errno -2] Name or service not known>")
        return None

    monkeypatch.setenv("VAESTUDIO_DATA_DIR", "/nonexistent")
    monkeypatch.setattr(fetching, "_download", offline)
    shown = _ErrorsShown()
    run = window.start_training(tiny_config(dataset="fashion-mnist"))
    with qtbot.waitSignals([dialogs.error_reporter.shown, run.ended], timeout=30_000):
        pass
    assert run.outcome == "failed"
    assert "Fashion-MNIST could not be found" in shown.messages[0]
    assert "vaestudio data fetch fashion-mnist" in shown.messages[0]
    _close_dialogs(window)
