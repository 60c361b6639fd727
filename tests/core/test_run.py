"""The run object: one owner of a run's state and history, autosave, rewind, events, exact resume."""

from __future__ import annotations

import threading

import pytest
import torch
from tiny_data import tiny_splits

from vaestudio.core.errors import TrainingError
from vaestudio.core.models.history import EpochResult, StepProgress
from vaestudio.core.models.model_files import open_model
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.precision import bfloat16_missing
from vaestudio.core.training.run import RunObserver, RunState, TrainingRun
from vaestudio.core.training.trainer import TrainingDivergedError

SMALL = ModelConfig("mlp", latent_dim=4, hidden=32)


class Recorder(RunObserver):
    def __init__(self):
        self.events = []

    def on_state_changed(self, run, state):
        self.events.append(("state", state))

    def on_started(self, run, info):
        self.events.append(("started", info.step))

    def on_step(self, run, progress):
        self.events.append(("step", progress.step))

    def on_epoch_end(self, run, result):
        self.events.append(("epoch", result.epoch))

    def on_saved(self, run, path):
        self.events.append(("saved", path.name))

    def on_failed(self, run, error):
        self.events.append(("failed", type(error).__name__))


def config(**changes):
    return TrainingConfig(**{"model": SMALL, "epochs": 2, "batch_size": 32, "device": "cpu", **changes})


def test_events_in_order_and_every_epoch_saved(splits, tmp_path):
    run = TrainingRun(config(), out=tmp_path / "m.safetensors", data=splits)
    recorder = Recorder()
    run.add_observer(recorder)
    assert run.execute() == "completed"
    kinds = [event[0] for event in recorder.events]
    assert recorder.events[:3] == [("state", RunState.LOADING), ("started", "fused-mlp"), ("state", RunState.RUNNING)]
    assert kinds.count("step") == 16 and kinds.count("epoch") == 2 and kinds.count("saved") == 2
    assert kinds.index("saved") == kinds.index("epoch") + 1
    assert recorder.events[-1] == ("state", RunState.FINISHED) and run.state is RunState.FINISHED
    saved = open_model(tmp_path / "m.safetensors")
    assert saved.epoch == 2 and saved.history.step_loss == pytest.approx(run.history.step_loss)


class StopAt(RunObserver):
    def __init__(self, step):
        self.step = step

    def on_step(self, run, progress):
        if progress.step == self.step:
            run.stop()


def test_a_stop_mid_epoch_leaves_the_run_history_and_the_file_in_agreement(splits, tmp_path):
    out = tmp_path / "m.safetensors"
    run = TrainingRun(config(epochs=3), out=out, data=splits)
    run.add_observer(StopAt(12))  # in epoch 2 of 8 steps each
    recorder = Recorder()
    run.add_observer(recorder)
    assert run.execute() == "stopped"
    assert ("state", RunState.STOPPING) in recorder.events
    saved = open_model(out)
    assert run.epoch == saved.epoch == 1
    assert len(run.history.step_loss) == len(saved.history.step_loss) == 8
    assert run.history.step_loss == pytest.approx(saved.history.step_loss)


def test_a_stop_before_any_epoch_saves_nothing(splits, tmp_path):
    out = tmp_path / "m.safetensors"
    run = TrainingRun(config(), out=out, data=splits)
    run.add_observer(StopAt(3))
    assert run.execute() == "stopped"
    assert not out.exists() and run.epochs_trained_here == 0 and run.history.step_loss == []


def test_pause_is_reported_when_the_loop_waits(splits):
    run = TrainingRun(config(epochs=1), data=splits)
    recorder = Recorder()

    class PauseOnce(RunObserver):
        def on_step(self, run, progress):
            if progress.step == 2:
                run.pause()
                threading.Timer(0.05, run.resume).start()
    run.add_observer(PauseOnce())
    run.add_observer(recorder)
    run.execute()
    states = [event[1] for event in recorder.events if event[0] == "state"]
    assert states == [RunState.LOADING, RunState.RUNNING, RunState.PAUSED, RunState.RUNNING, RunState.FINISHED]


def test_a_failure_is_reported_and_raised_and_the_run_rewinds(splits, tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    run = TrainingRun(config(epochs=3), out=out, data=splits)
    recorder = Recorder()
    run.add_observer(recorder)

    class Poison(RunObserver):
        def on_step(self, run, progress):
            if progress.step == 10:
                with torch.no_grad():
                    run.trainer.model.encoder_logvar.bias.fill_(1e6)
    run.add_observer(Poison())
    with pytest.raises(TrainingDivergedError):
        run.execute()
    assert run.state is RunState.FAILED and run.outcome == "failed"
    assert recorder.events[-1] == ("failed", "TrainingDivergedError")
    assert run.epoch == open_model(out).epoch == 1 and len(run.history.step_loss) == 8


def test_a_keyboard_interrupt_rewinds_and_finishes_as_stopped(splits, tmp_path):
    run = TrainingRun(config(epochs=3), out=tmp_path / "m.safetensors", data=splits)

    class Interrupt(RunObserver):
        def on_step(self, run, progress):
            if progress.step == 11:
                raise KeyboardInterrupt
    run.add_observer(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    assert run.outcome == "stopped" and run.epoch == 1 and len(run.history.step_loss) == 8


def weights_after(config_, splits, tmp_path, *, split_at: int | None):
    """Train to config_.epochs in one go, or to split_at then resume from the file to the end."""
    out = tmp_path / f"{config_.model.kind}-{split_at}.safetensors"
    if split_at is None:
        run = TrainingRun(config_, out=out, data=splits)
        run.execute()
    else:
        TrainingRun(TrainingConfig(**{**config_.__dict__, "epochs": split_at}), out=out, data=splits).execute()
        resumed = open_model(out)
        run = TrainingRun(config_, out=out, resume=resumed, data=splits)
        run.execute()
    return run.trainer.state_snapshot(), run.trainer.optimizer.state_dict(), run.history


NO_BFLOAT16 = bfloat16_missing(torch.device("cpu"))


@pytest.mark.parametrize("kind, precision", [
    ("mlp", "float32"), ("conv", "float32"),
    pytest.param("conv", "bfloat16", marks=pytest.mark.skipif(NO_BFLOAT16 is not None,
                                                               reason=f"no bfloat16 training here: {NO_BFLOAT16}")),
])
def test_resume_is_exact(tmp_path, kind, precision):
    splits = tiny_splits(train=128, test=32)
    config_ = config(model=ModelConfig(kind, latent_dim=3, hidden=16), epochs=4, pixels="binarized", seed=3,
                     precision=precision)
    straight, straight_optimizer, straight_history = weights_after(config_, splits, tmp_path, split_at=None)
    resumed, resumed_optimizer, resumed_history = weights_after(config_, splits, tmp_path, split_at=2)
    for name, value in straight.items():
        assert torch.equal(value, resumed[name]), name
    for index, state in straight_optimizer["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed_optimizer["state"][index][key]))
    assert straight_history.step_loss == resumed_history.step_loss
    assert [e.test.loss for e in straight_history.epochs] == [e.test.loss for e in resumed_history.epochs]


def test_the_step_strategy_is_named_once_in_the_run_info(splits):
    fused = TrainingRun(config(epochs=1), data=splits)
    fused.execute()
    plain = TrainingRun(config(epochs=1, fused_step=False), data=splits)
    plain.execute()
    assert (fused.info.step, plain.info.step) == ("fused-mlp", "autograd")


def test_records_are_plain_data(splits):
    run = TrainingRun(config(epochs=1), data=splits)
    seen = []

    class Keep(RunObserver):
        def on_step(self, run, progress):
            seen.append(progress)

        def on_epoch_end(self, run, result):
            seen.append(result)
    run.add_observer(Keep())
    run.execute()
    assert isinstance(seen[0], StepProgress) and isinstance(seen[-1], EpochResult)


def test_bad_fused_step_setting_is_our_error():
    with pytest.raises(TrainingError.__mro__[1], match="fused-step setting must be true or false"):
        config(fused_step="yes").validate()
