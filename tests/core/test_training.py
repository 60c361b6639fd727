import math

import pytest
import torch

from vaestudio.core.errors import ConfigError, DeviceError
from vaestudio.core.models.history import EpochResult, StepProgress
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import (
    Trainer,
    TrainingControl,
    TrainingDivergedError,
)

SMALL = ModelConfig("mlp", latent_dim=4, hidden=32)


def run_all(trainer):
    return list(trainer.run())


def test_loss_falls_and_records_are_complete(splits):
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=3, batch_size=32, device="cpu"), splits)
    records = run_all(trainer)
    steps = [r for r in records if isinstance(r, StepProgress)]
    epochs = [r for r in records if isinstance(r, EpochResult)]
    assert len(steps) == 3 * 8 and [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[-1].test.loss < epochs[0].test.loss
    assert len(epochs[-1].test.kl_per_dim) == 4
    assert math.isclose(sum(epochs[-1].test.kl_per_dim), epochs[-1].test.kl, rel_tol=1e-6)
    assert len(trainer.history.step_loss) == 24


def test_same_seed_same_weights(splits):
    def train_once():
        trainer = Trainer(TrainingConfig(model=SMALL, epochs=1, batch_size=64, device="cpu", seed=7), splits)
        run_all(trainer)
        return trainer.state_snapshot()
    first, second = train_once(), train_once()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_stop_and_pause_between_steps(splits):
    control = TrainingControl()
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=5, batch_size=32, device="cpu"), splits, control=control)
    seen = 0
    for record in trainer.run():
        seen += 1
        if seen == 3:
            control.stop()
    assert seen == 3 and trainer.epoch == 0
    assert not control.paused


def test_a_stop_mid_epoch_rewinds_to_the_last_epoch_end(splits):
    control = TrainingControl()
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=3, batch_size=32, device="cpu"), splits, control=control)
    iterator = trainer.run()
    while not isinstance(next(iterator), EpochResult):
        pass
    after_epoch_one = trainer.state_snapshot()
    optimizer_steps = trainer.optimizer.state_dict()["state"][0]["step"].item()
    next(iterator), next(iterator)
    control.stop()
    assert list(iterator) == []
    assert trainer.epoch == 1 and len(trainer.history.step_loss) == 8
    assert all(torch.equal(after_epoch_one[name], value) for name, value in trainer.state_snapshot().items())
    assert trainer.optimizer.state_dict()["state"][0]["step"].item() == optimizer_steps


def test_pause_blocks_until_resume(splits):
    import threading
    control = TrainingControl()
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=1, batch_size=32, device="cpu"), splits, control=control)
    iterator = trainer.run()
    next(iterator)
    control.pause()
    timer = threading.Timer(0.05, control.resume)
    timer.start()
    record = next(iterator)
    assert isinstance(record, StepProgress) and record.batch == 2
    timer.join()


def test_kl_warmup_ramps_beta(splits):
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=1, batch_size=32, device="cpu", beta=2.0,
                                     kl_warmup_epochs=2), splits)
    assert trainer.beta_at(0) == 0.0
    assert trainer.beta_at(8) == pytest.approx(1.0)
    assert trainer.beta_at(1000) == 2.0


def test_binarized_pixels_train(splits):
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=1, batch_size=64, device="cpu", pixels="binarized"), splits)
    result = run_all(trainer)[-1]
    assert math.isfinite(result.test.loss)


def test_non_finite_loss_stops_and_rewinds_to_the_last_epoch_end(splits):
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=3, batch_size=32, device="cpu"), splits)
    iterator = trainer.run()
    while not isinstance(next(iterator), EpochResult):
        pass
    after_epoch_one = trainer.state_snapshot()
    next(iterator)
    with torch.no_grad():
        trainer.model.encoder_logvar.bias.fill_(1e6)  # exp(1e6) overflows: the next loss is inf
    with pytest.raises(TrainingDivergedError, match="goes back to the end of epoch 1. Lower the learning rate"):
        next(iterator)
    after = trainer.state_snapshot()
    assert all(torch.equal(after[name], after_epoch_one[name]) for name in after)
    assert trainer.epoch == 1 and len(trainer.history.step_loss) == 8


def test_training_never_touches_the_global_generator(splits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer = Trainer(TrainingConfig(model=SMALL, epochs=1, batch_size=32, device="cpu", pixels="binarized"), splits)
    run_all(trainer)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 0}, "Epochs must be 1 or more"),
    ({"batch_size": 0}, "Batch size must be between 1 and 65536"),
    ({"lr": 0.0}, "Learning rate must be above 0"),
    ({"lr": float("nan")}, "Learning rate must be above 0"),
    ({"beta": -1.0}, "Beta \\(the KL weight\\) must be between 0 and 1000"),
    ({"pixels": "grey"}, "Unknown pixel mode 'grey'"),
])
def test_bad_training_config(changes, message, splits):
    values = {"model": SMALL, "device": "cpu", **changes}
    with pytest.raises(ConfigError, match=message):
        Trainer(TrainingConfig(**values), splits)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_gpu(splits):
    with pytest.raises(DeviceError, match="no CUDA GPU is available here. Use --device cpu"):
        Trainer(TrainingConfig(model=SMALL, device="cuda"), splits)


def test_unknown_device(splits):
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        Trainer(TrainingConfig(model=SMALL, device="tpu"), splits)
