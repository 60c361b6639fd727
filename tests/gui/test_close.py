"""Closing the window while training: keep the run, discard it, or cancel; the thread always ends cleanly."""

from __future__ import annotations

from vaestudio.core.models.model_files import open_model
from vaestudio.gui.widgets import dialogs


def _start_and_wait_for_an_epoch(window, qtbot, tiny_config):
    window.show()
    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    return run


def test_close_mid_training_keeps_the_run(window, qtbot, tiny_config, monkeypatch):
    run = _start_and_wait_for_an_epoch(window, qtbot, tiny_config)
    asked = []
    monkeypatch.setattr(dialogs, "ask_keep_run", lambda parent: asked.append(parent) or dialogs.KEEP)
    with qtbot.waitSignal(run.ended, timeout=30_000):
        assert not window.close()  # the close waits for the thread, without blocking the event loop
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert asked == [window]
    assert run.thread.isFinished()
    assert open_model(run.request.model_path).epoch >= 1


def test_close_mid_training_can_discard_the_run(window, qtbot, tiny_config):
    run = _start_and_wait_for_an_epoch(window, qtbot, tiny_config)
    window.close_policy = dialogs.DISCARD
    with qtbot.waitSignal(run.ended, timeout=30_000):
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert not run.request.run_folder.exists()
    assert run.thread.isFinished()


def test_cancelling_the_close_keeps_training(window, qtbot, tiny_config):
    run = _start_and_wait_for_an_epoch(window, qtbot, tiny_config)
    window.close_policy = dialogs.CANCEL
    assert not window.close()
    assert window.isVisible() and run.alive and not run.control.stop_requested
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass


def test_close_when_idle_saves_the_layout_and_form(qtbot, tiny_dataset):
    from vaestudio.gui.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(720, 500)
    first.panel.latent_dim.setValue(7)
    first.panel.learning_rate.setText("0.005")
    first.panel.use_folder(tiny_dataset.partition(":")[2])
    first.training_view.setSizes([300, 300])
    size = first.size()
    assert (size.width(), size.height()) == (720, 500)  # not the default size
    assert first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    config = second.panel.config()
    assert config.model.latent_dim == 7 and config.lr == 0.005 and config.dataset == tiny_dataset
    assert second.size() == size
