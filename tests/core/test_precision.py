"""The precision setting: what "auto" picks, what an impossible request says, and bfloat16 training on the CPU."""


import pytest
import torch
from tiny_data import tiny_splits

from vaestudio.core.errors import ConfigError
from vaestudio.core.models.history import EpochResult
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training import precision
from vaestudio.core.training.precision import bfloat16_missing, resolve_precision
from vaestudio.core.training.run import TrainingRun
from vaestudio.core.training.trainer import Trainer

CPU = torch.device("cpu")
MLP = build_model(ModelConfig("mlp", latent_dim=3, hidden=16))
CONV = build_model(ModelConfig("conv", latent_dim=3, hidden=16))
CPU_BF16 = bfloat16_missing(CPU)
needs_bf16 = pytest.mark.skipif(CPU_BF16 is not None, reason=f"no bfloat16 training here: {CPU_BF16}")


def config(**changes):
    return TrainingConfig(**{"model": ModelConfig("conv", latent_dim=3, hidden=16), "epochs": 2, "batch_size": 32,
                             "device": "cpu", "seed": 3, **changes})


@pytest.mark.parametrize("fast", [True, False])
def test_auto_picks_bfloat16_for_the_conv_network_on_a_fast_cpu_and_never_for_the_mlp(monkeypatch, fast):
    monkeypatch.setattr(precision, "_cpu_has_fast_bfloat16", lambda: fast)
    assert resolve_precision("auto", MLP, CPU) == "float32"
    assert resolve_precision("auto", CONV, CPU) == ("bfloat16" if fast else "float32")
    for model in (MLP, CONV):
        assert resolve_precision("float32", model, CPU) == "float32"


def test_bfloat16_asked_of_a_device_without_it_says_what_to_choose(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_has_fast_bfloat16", lambda: False)
    with pytest.raises(ConfigError, match="no native bfloat16 .* Train in float32 or auto"):
        resolve_precision("bfloat16", CONV, CPU)
    with pytest.raises(ConfigError, match="not offered on MPS. Train in float32 or auto"):
        resolve_precision("bfloat16", CONV, torch.device("mps"))
    assert resolve_precision("auto", CONV, torch.device("mps")) == "float32"
    with pytest.raises(ConfigError, match="no native bfloat16"):
        Trainer(config(precision="bfloat16"), tiny_splits(train=32, test=8))
    run = TrainingRun(config(dataset="idx:/nowhere", precision="bfloat16"))
    with pytest.raises(ConfigError, match="no native bfloat16"):  # said before any data is read
        run.execute()


@pytest.mark.parametrize("value", ["half", "float16", "", None, 16, True])
def test_an_unknown_precision_is_our_error(value):
    with pytest.raises(ConfigError, match="Unknown precision .*: choose auto, float32 or bfloat16"):
        config(precision=value).validate()


def test_the_founding_mlp_keeps_its_fused_float32_step():
    run = TrainingRun(config(model=ModelConfig("mlp", latent_dim=3, hidden=16), epochs=1),
                      data=tiny_splits(train=64, test=16))
    run.execute()
    assert (run.info.step, run.info.precision, run.config.precision) == ("fused-mlp", "float32", "float32")


@needs_bf16
def test_bfloat16_trains_the_conv_network_with_float32_weights_and_adam_state(tmp_path):
    out = tmp_path / "bf16.safetensors"
    run = TrainingRun(config(precision="bfloat16", epochs=3), out=out, data=tiny_splits(train=256, test=64))
    run.execute()
    assert (run.info.step, run.info.precision) == ("autograd", "bfloat16")
    trainer = run.trainer
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(value.dtype == torch.float32 for state in trainer.optimizer.state.values()
               for key, value in state.items() if key != "step")
    epochs = run.history.epochs
    assert epochs[-1].train_loss < 0.9 * epochs[0].train_loss
    assert epochs[-1].test.loss < epochs[0].test.loss


@needs_bf16
def test_auto_records_what_ran_and_the_test_loss_is_computed_in_float32(tmp_path):
    splits = tiny_splits(train=64, test=16)
    auto = Trainer(config(epochs=1), splits)
    assert (auto.config.precision, auto.step.precision) == ("bfloat16", "bfloat16")  # the file says what trained it
    results = [record for record in auto.run() if isinstance(record, EpochResult)]
    again = auto._evaluate()  # evaluation never runs under autocast: the same float32 figure
    assert results[-1].test.loss == again.loss
    plain = Trainer(config(epochs=1, precision="float32"), splits)
    assert (plain.config.precision, plain.step.precision) == ("float32", "float32")


@needs_bf16
def test_bfloat16_is_allowed_for_the_mlp_when_asked_and_runs_with_autograd():
    trainer = Trainer(config(model=ModelConfig("mlp", latent_dim=3, hidden=16), precision="bfloat16", epochs=1),
                      tiny_splits(train=64, test=16))
    assert (trainer.step.name, trainer.step.precision) == ("autograd", "bfloat16")
    list(trainer.run())
    assert len(trainer.history.epochs) == 1


def test_the_random_stream_is_drawn_in_float32_whatever_the_precision():
    """The noise of a bfloat16 step comes from the same draws as a float32 one (z is formed in float32)."""
    model = build_model(ModelConfig("conv", latent_dim=3, hidden=16))
    x = torch.rand(4, 784)
    states = []
    for enabled in (False, True):
        generator = torch.Generator().manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            model(x, generator)
        states.append(generator.get_state())
    assert torch.equal(*states)
