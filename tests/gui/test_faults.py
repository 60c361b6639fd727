"""Faults while training: a step that raises, a CUDA out-of-memory, a full disk on Save as, and quick
start/pause/resume/stop/open/close sequences. The run stops with a message, the last finite weights stay, the
thread ends, and the window keeps working."""

from __future__ import annotations

import errno
import random

import pytest
import torch
from model_file_tools import write_valid_model
from PySide6.QtWidgets import QApplication, QMessageBox

from vaestudio.core.data import paths
from vaestudio.core.models.model_files import open_model
from vaestudio.core.training import steps
from vaestudio.gui.widgets import dialogs


class _Shown:
    def __init__(self) -> None:
        self.messages: list[str] = []
        dialogs.error_reporter.shown.connect(lambda title, message: self.messages.append(message))


def _close_dialogs(window) -> None:
    for box in window.findChildren(QMessageBox):
        if box.isVisible():
            box.accept()


def _failing_in_epoch_two(monkeypatch, error: BaseException) -> None:
    original = steps.FusedMLPStep.compute
    calls = []

    def compute(self, x, beta, generator):
        calls.append(1)
        if len(calls) > 2:  # two batches an epoch (192 images of 96): epoch 1 ends, epoch 2 fails
            raise error
        return original(self, x, beta, generator)

    monkeypatch.setattr(steps.FusedMLPStep, "compute", compute)


@pytest.mark.parametrize("error, message", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "ran out of memory at batch size"),
    (RuntimeError("a step blew up"), "RuntimeError: a step blew up"),
    (ValueError("bad shapes"), "ValueError: bad shapes"),
], ids=["cuda-oom", "runtime-error", "value-error"])
def test_a_fault_in_a_step_stops_the_run_and_keeps_the_last_epoch(window, qtbot, tiny_config, monkeypatch,
                                                                    error, message):
    _failing_in_epoch_two(monkeypatch, error)
    shown = _Shown()
    run = window.start_training(tiny_config(epochs=4, batch_size=96))
    with qtbot.waitSignals([dialogs.error_reporter.shown, run.ended], timeout=30_000):
        pass
    assert run.outcome == "failed" and not run.alive and run.thread.isFinished()
    assert message in shown.messages[0] and "Traceback" not in shown.messages[0]
    saved = open_model(run.request.model_path)
    assert saved.epoch == 1 == window.session.epoch
    for name, value in window.session.model.state_dict().items():  # the weights shown are the file's
        assert torch.isfinite(value).all() and torch.equal(value, saved.model.state_dict()[name])
    _close_dialogs(window)
    monkeypatch.undo()
    again = window.start_training(tiny_config(epochs=1))  # the window still trains
    with qtbot.waitSignal(again.ended, timeout=30_000) as ended:
        pass
    assert ended.args == ["completed"]


@pytest.mark.parametrize("errno_code, text", [(errno.ENOSPC, "No space left on device"),
                                              (errno.EROFS, "Read-only file system")])
def test_save_as_onto_a_full_disk_keeps_training_and_saves_elsewhere(window, qtbot, tiny_config, tmp_path,
                                                                     monkeypatch, errno_code, text):
    full = tmp_path / "full"
    full.mkdir()
    old = write_valid_model(full / "mine.safetensors")
    before = old.read_bytes()
    original_sync = paths._sync_file

    def sync(path):  # the disk fills (or turns read-only) while the new file is written
        if path.parent == full:
            raise OSError(errno_code, text)
        return original_sync(path)

    monkeypatch.setattr(paths, "_sync_file", sync)
    run = window.start_training(tiny_config(epochs=6))
    qtbot.waitUntil(lambda: window._saved_path is not None, timeout=30_000)  # epoch 1 is autosaved
    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=10_000) as shown:
        assert not window.save_model_file(old)
    assert text in shown.args[1] and str(old) in shown.args[1]
    _close_dialogs(window)
    assert old.read_bytes() == before and sorted(p.name for p in full.iterdir()) == ["mine.safetensors"]
    assert run.alive or run.outcome == "completed"  # training went on
    with qtbot.waitSignal(run.ended, timeout=60_000) as ended:
        pass
    assert ended.args == ["completed"]
    elsewhere = tmp_path / "elsewhere" / "model.safetensors"
    assert window.save_model_file(elsewhere)
    assert open_model(elsewhere).epoch == 6


def test_quick_start_pause_resume_stop_open_and_close_leave_no_thread(window, qtbot, tiny_config, tmp_path):
    """A seeded burst of 60 actions while runs start and end; then every thread has ended and the window closes."""
    model = write_valid_model(tmp_path / "other.safetensors")
    runs = []
    window.runStarted.connect(runs.append)
    window.close_policy = "discard"
    generator = random.Random(5)
    actions = {
        "start": lambda: window.start_training(tiny_config(epochs=3)),
        "pause": window.toggle_pause,
        "stop": window.stop_training,
        "open": lambda: window.open_model_file(model),
        "events": lambda: qtbot.wait(generator.randint(0, 30)),
    }
    for _ in range(60):
        actions[generator.choice(list(actions))]()
        QApplication.processEvents()
    window.show()
    window.close()  # asks the run (if any) to stop, then closes once it has ended
    qtbot.waitUntil(lambda: all(run.thread.isFinished() for run in runs), timeout=60_000)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert len(runs) >= 3
    assert all(run.outcome in ("completed", "stopped") for run in runs)


def test_opening_another_model_while_training_keeps_it_shown(window, qtbot, tiny_config, tmp_path):
    """The run's next snapshots (another network's weights) no longer reach the model the person opened."""
    other = write_valid_model(tmp_path / "other.safetensors")
    run = window.start_training(tiny_config(epochs=4))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    assert window.open_model_file(other)
    with qtbot.waitSignal(run.ended, timeout=60_000) as ended:
        pass
    assert ended.args == ["completed"]
    assert window.session.source == str(other) and window.session.model.config.latent_dim == 3
    assert open_model(run.request.model_path).epoch == 4  # the run itself went on and saved every epoch
