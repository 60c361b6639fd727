from dataclasses import replace

import pytest
import torch

from vaestudio.core.errors import TrainingError
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.mlp_step import MLPTrainingStep
from vaestudio.core.training.objectives import negative_elbo
from vaestudio.core.training.steps import choose_step
from vaestudio.core.training.trainer import Trainer


def autograd_terms_and_grads(model, x, beta, seed):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    logits, mu, logvar = model(x)
    terms = negative_elbo(logits, x, mu, logvar, beta)
    terms.loss.backward()
    values = torch.stack([terms.loss, terms.reconstruction, terms.kl]).detach()
    return values, {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("binary", [False, True])
def test_hand_written_gradient_equals_autograd(beta, binary):
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", latent_dim=3, hidden=16)).double()
    with torch.no_grad():  # spread the posterior so both KL terms and dead ReLUs matter
        model.encoder_logvar.bias.uniform_(-2.0, 1.0)
    x = torch.rand(9, 784, dtype=torch.float64)
    if binary:
        x = torch.bernoulli(x)
    expected_values, expected_grads = autograd_terms_and_grads(model, x, beta, seed=3)

    step = MLPTrainingStep(model)
    torch.manual_seed(3)  # the same reparameterisation draw
    values = step(x, beta)
    torch.testing.assert_close(values, expected_values, rtol=1e-10, atol=1e-9)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, expected_grads[name], rtol=1e-9, atol=1e-10, msg=name)
        assert parameter.grad.abs().sum() > 0 or (beta == 0.0 and "logvar" not in name), name


def test_each_call_overwrites_the_gradient_and_survives_zero_grad():
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", latent_dim=2, hidden=8)).double()
    x = torch.rand(5, 784, dtype=torch.float64)
    step = MLPTrainingStep(model)
    torch.manual_seed(1)
    step(x, 1.0)
    first = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    step(x, 1.0)  # not accumulated onto the first, and recreated after set_to_none
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter.grad, first[name], msg=name)
    torch.manual_seed(1)
    step(x[:3], 1.0)  # a smaller last batch
    assert model.decoder_out.weight.grad.shape == model.decoder_out.weight.shape


@pytest.mark.parametrize("pixels", ["continuous", "binarized"])
def test_both_step_strategies_give_the_same_weights(splits, pixels):
    config = TrainingConfig(model=ModelConfig("mlp", latent_dim=4, hidden=32), epochs=2, batch_size=32,
                            device="cpu", seed=5, pixels=pixels)
    fast = Trainer(config, splits)
    slow = Trainer(replace(config, fused_step=False), splits)
    assert (fast.step.name, slow.step.name) == ("fused-mlp", "autograd")
    fast_losses = [record.loss for record in fast.run() if hasattr(record, "loss")]
    slow_losses = [record.loss for record in slow.run() if hasattr(record, "loss")]
    assert len(fast_losses) == 2 * 8
    assert fast_losses == pytest.approx(slow_losses, rel=1e-4)
    for name, value in fast.state_snapshot().items():
        torch.testing.assert_close(value, slow.state_snapshot()[name], rtol=1e-3, atol=1e-4, msg=name)


def test_rebound_parameters_raise_instead_of_silently_not_training(splits):
    config = TrainingConfig(model=ModelConfig("mlp", latent_dim=4, hidden=32), epochs=1, batch_size=32, device="cpu")
    trainer = Trainer(config, splits)
    assert trainer.step.name == "fused-mlp"
    trainer.model.to(torch.float64)
    with pytest.raises(TrainingError, match="parameters were moved or replaced"):
        list(trainer.run())


def test_float64_mlp_chooses_autograd(splits):
    model = build_model(ModelConfig("mlp", latent_dim=4, hidden=32)).to(torch.float64)
    assert choose_step(model, 1e-3).name == "autograd"
    assert choose_step(build_model(ModelConfig("mlp", 4, 32)), 1e-3).name == "fused-mlp"
    assert choose_step(build_model(ModelConfig("mlp", 4, 32)), 1e-3, fused=False).name == "autograd"


def test_conv_models_train_with_autograd(splits):
    trainer = Trainer(TrainingConfig(model=ModelConfig("conv", latent_dim=2, hidden=16), epochs=1, batch_size=64,
                                     device="cpu"), splits)
    assert trainer.step.name == "autograd"
