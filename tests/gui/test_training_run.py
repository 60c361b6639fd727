"""Training from the window: a run on a tiny dataset, pause/resume, stop, autosave, the model session."""

from __future__ import annotations

import numpy as np

from vaestudio.core.data.paths import runs_dir
from vaestudio.core.models.model_files import open_model
from vaestudio.core.models.networks import ModelConfig


def test_a_run_trains_publishes_snapshots_and_autosaves(window, qtbot, tiny_config):
    config = tiny_config(epochs=2)
    with qtbot.waitSignal(window.runStarted) as started:
        run = window.start_training(config)
    assert started.args == [run]
    assert not window.panel.start_action.isEnabled()
    with qtbot.waitSignal(run.ended, timeout=30_000) as ended:
        pass
    assert ended.args == ["completed"]
    assert not run.thread.isRunning()

    assert window.session.origin == "trained"
    assert window.session.model is not None and window.session.epoch == 2
    assert window.session.model.config == config.model
    assert len(window.history.epochs) == 2
    assert len(window.history.step_loss) == 2 * run.info.batches_per_epoch
    assert window.loss_plot.raw["loss"].count == len(window.history.step_loss)
    assert window.kl_bars.kl.shape == (config.model.latent_dim,)

    saved = open_model(run.request.model_path)
    assert run.request.model_path.parent.parent == runs_dir()
    assert saved.epoch == 2 and saved.optimizer_state is not None
    assert saved.history.step_loss == window.history.step_loss
    for name, tensor in saved.model.state_dict().items():
        assert np.allclose(tensor.numpy(), window.session.model.state_dict()[name].numpy())
    assert window.panel.start_action.isEnabled()
    assert "after epoch 2" in window.panel.status_label.text()


def test_steps_are_announced_in_batches_and_read_from_the_runs_history(window, qtbot, tiny_config):
    batches = []
    run = window.start_training(tiny_config(epochs=3))
    window.stepsShown.connect(batches.append)
    with qtbot.waitSignal(run.ended, timeout=30_000):
        pass
    assert sum(batches) == 3 * run.info.batches_per_epoch
    assert len(batches) < sum(batches)  # several steps per signal, never one signal per step
    assert window.history is run.run.history  # the window shows the run's own history, no copy
    window.loss_plot.redraw()
    assert window.loss_plot.raw["loss"].count == sum(batches)


def test_a_stop_mid_epoch_shows_what_the_file_holds(window, qtbot, tiny_config):
    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: len(run.history.step_loss) > run.info.batches_per_epoch + 2, timeout=30_000)
    with qtbot.waitSignal(run.ended, timeout=30_000):
        window.stop_training()
    saved = open_model(run.request.model_path)
    window.loss_plot.redraw()
    assert window.loss_plot.raw["loss"].count == len(saved.history.step_loss) == len(window.history.step_loss)
    assert len(saved.history.step_loss) == saved.epoch * run.info.batches_per_epoch
    assert window.session.epoch == saved.epoch


def test_a_new_run_is_shown_from_its_first_step(window, qtbot, tiny_config):
    first = window.start_training(tiny_config(epochs=1))
    with qtbot.waitSignal(first.ended, timeout=30_000):
        pass
    assert window.kl_bars.kl.shape == (tiny_config().model.latent_dim,)
    config = tiny_config(epochs=10_000, model=ModelConfig("mlp", latent_dim=3, hidden=16))
    with qtbot.waitSignal(window.session.modelChanged, timeout=30_000):
        run = window.start_training(config)
    assert window.session.model.config == config.model and window.session.epoch == 0
    assert "z=3, epoch 0" in window.model_status.text()
    assert window.kl_bars.kl.size == 0  # not the previous model's bars
    assert window.history is run.history
    with qtbot.waitSignal(run.ended, timeout=30_000):
        window.stop_training()


def test_pause_holds_the_loop_and_resume_goes_on(window, qtbot, tiny_config):
    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    with qtbot.waitSignal(window.pausedChanged, check_params_cb=lambda paused: paused, timeout=10_000):
        window.panel.pause_action.trigger()
    assert run.control.paused
    assert window.panel.pause_action.text() == "Resume"
    steps = len(window.history.step_loss)
    with qtbot.assertNotEmitted(window.stepsShown, wait=200):
        pass
    assert len(window.history.step_loss) == steps

    window.panel.pause_action.trigger()
    assert window.panel.pause_action.text() == "Pause"
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    assert len(window.history.step_loss) > steps

    with qtbot.waitSignal(run.ended, timeout=30_000) as ended:
        window.panel.stop_action.trigger()
    assert ended.args == ["stopped"]
    assert open_model(run.request.model_path).epoch == window.session.epoch >= 2
    assert window.panel.start_action.isEnabled() and not window.panel.stop_action.isEnabled()


def test_stop_while_paused_ends_the_run(window, qtbot, tiny_config):
    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.pausedChanged, check_params_cb=lambda paused: paused, timeout=30_000):
        window.toggle_pause()
    with qtbot.waitSignal(run.ended, timeout=30_000) as ended:
        window.stop_training()
    assert ended.args == ["stopped"]
    assert not run.thread.isRunning()


def test_shutdown_blocks_until_the_thread_has_ended(window, qtbot, tiny_config):
    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    window.shutdown()
    assert run.thread.isFinished()
    with qtbot.waitSignal(run.ended, timeout=5_000) as ended:
        pass
    assert ended.args == ["stopped"]


def test_the_training_thread_uses_the_chosen_torch_threads(window, qtbot, tiny_config, monkeypatch):
    import torch

    seen = []
    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda count: (seen.append(count), original(count)))
    window.training_threads = 1
    before = torch.get_num_threads()
    run = window.start_training(tiny_config(epochs=1))
    with qtbot.waitSignal(run.ended, timeout=30_000):
        pass
    assert seen == [1, before]


def test_the_window_handles_training_signals_on_the_gui_thread(qtbot, tiny_config):
    import threading

    from vaestudio.gui.main_window import MainWindow

    seen: set[tuple[str, int]] = set()

    class RecordingWindow(MainWindow):
        def _on_steps(self):
            seen.add(("steps", threading.get_ident()))
            super()._on_steps()

        def _on_epoch(self, result):
            seen.add(("epoch", threading.get_ident()))
            super()._on_epoch(result)

        def _on_snapshot(self, state, epoch):
            seen.add(("snapshot", threading.get_ident()))
            assert all(tensor.device.type == "cpu" for tensor in state.values())
            super()._on_snapshot(state, epoch)

    window = RecordingWindow()
    qtbot.addWidget(window)
    run = window.start_training(tiny_config(epochs=2))
    with qtbot.waitSignal(run.ended, timeout=30_000):
        pass
    assert {name for name, _ in seen} == {"steps", "epoch", "snapshot"}
    assert {ident for _, ident in seen} == {threading.main_thread().ident}


def test_train_menu_holds_the_run_actions_with_shortcuts(window):
    menus = {action.text().replace("&", ""): action.menu() for action in window.menuBar().actions()}
    assert set(menus) == {"File", "Train", "View", "Help"}
    train = [action.text() for action in menus["Train"].actions()]
    assert train == ["Start", "Pause", "Stop"]
    assert window.panel.start_action.shortcut().toString() == "Ctrl+R"
    assert window.panel.pause_action.shortcut().toString() == "Ctrl+P"
    assert window.panel.stop_action.shortcut().toString() == "Ctrl+."
    assert window.windowTitle() == "VAE Studio"


def test_a_run_that_does_not_stop_in_time_is_never_dropped_silently(window, qtbot, tiny_config, monkeypatch):
    from vaestudio.gui.widgets import dialogs

    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    waits, asked = [], []
    original = type(run).stop_and_wait

    def slow_stop(self, timeout_ms=30_000):
        waits.append(timeout_ms)
        return original(self, 30_000) if len(waits) > 1 else False  # the first wait runs out, the second ends

    monkeypatch.setattr(type(run), "stop_and_wait", slow_stop)
    monkeypatch.setattr(dialogs, "ask_wait_for_training",
                        lambda parent, seconds, saved, epoch: asked.append((saved, epoch)) or True)
    assert window.shutdown(timeout_ms=50)
    assert len(waits) == 2 and asked == [(run.request.model_path, asked[0][1])] and asked[0][1] >= 1
    assert run.thread.isFinished()


def test_quitting_anyway_is_logged(window, qtbot, tiny_config, monkeypatch, caplog):
    from vaestudio.gui.widgets import dialogs

    run = window.start_training(tiny_config(epochs=10_000))
    with qtbot.waitSignal(window.epochFinished, timeout=30_000):
        pass
    monkeypatch.setattr(type(run), "stop_and_wait", lambda self, timeout_ms=30_000: False)
    monkeypatch.setattr(dialogs, "ask_wait_for_training", lambda *args: False)
    assert not window.shutdown(timeout_ms=50)
    assert "still running" in caplog.text
    monkeypatch.undo()
    with qtbot.waitSignal(run.ended, timeout=30_000):
        window.stop_training()


def test_the_fused_step_setting_reaches_the_run(window, qtbot, tiny_config):
    window.panel.set_config(tiny_config(epochs=1))
    window.panel.fused_step.setChecked(False)
    assert window.panel.config().fused_step is False
    with qtbot.waitSignal(window.runStarted):
        run = window.start_training()
    with qtbot.waitSignal(run.ended, timeout=30_000):
        pass
    assert (run.info.step, run.info.precision) == ("autograd", "float32")  # the MLP: never bfloat16 by itself
