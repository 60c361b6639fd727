import math

import pytest
import torch

from vaestudio.core.errors import ConfigError
from vaestudio.core.models.networks import (
    HIDDEN_RANGE,
    LATENT_RANGE,
    ModelConfig,
    build_model,
)
from vaestudio.core.models.training_config import (
    BATCH_SIZE_RANGE,
    BETA_RANGE,
    EPOCH_RANGE,
    LR_RANGE,
    SEED_RANGE,
    TrainingConfig,
)
from vaestudio.core.training.objectives import (
    iwae_bound,
    kl_per_dimension,
    negative_elbo,
)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_shapes(kind):
    model = build_model(ModelConfig(kind, latent_dim=5, hidden=32))
    x = torch.rand(7, 784)
    logits, mu, logvar = model(x)
    assert logits.shape == (7, 784)
    assert mu.shape == logvar.shape == (7, 5)
    assert model.decode(mu).min() >= 0 and model.decode(mu).max() <= 1


def test_founding_network_has_the_example_layer_sizes():
    model = build_model(ModelConfig())
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters() if name.endswith("weight")}
    assert shapes == {"encoder_hidden.weight": (400, 784), "encoder_mu.weight": (20, 400),
                      "encoder_logvar.weight": (20, 400), "decoder_hidden.weight": (400, 20),
                      "decoder_out.weight": (784, 400)}


@pytest.mark.parametrize("config, message", [
    (ModelConfig("transformer"), "Unknown model type 'transformer'"),
    (ModelConfig(latent_dim=1), "Latent size 1 is out of range: choose 2 to 128"),
    (ModelConfig(latent_dim=129), "Latent size 129 is out of range"),
    (ModelConfig(hidden=2), "Hidden width 2 is out of range"),
])
def test_bad_model_config(config, message):
    with pytest.raises(ConfigError, match=message):
        build_model(config)


@pytest.mark.parametrize("field, bounds, below, above", [
    ("epochs", EPOCH_RANGE, EPOCH_RANGE[0] - 1, EPOCH_RANGE[1] + 1),
    ("batch_size", BATCH_SIZE_RANGE, BATCH_SIZE_RANGE[0] - 1, BATCH_SIZE_RANGE[1] + 1),
    ("beta", BETA_RANGE, -1e-9, BETA_RANGE[1] * 1.000001),
    ("seed", SEED_RANGE, SEED_RANGE[0] - 1, SEED_RANGE[1] + 1),
    ("latent_dim", LATENT_RANGE, LATENT_RANGE[0] - 1, LATENT_RANGE[1] + 1),
    ("hidden", HIDDEN_RANGE, HIDDEN_RANGE[0] - 1, HIDDEN_RANGE[1] + 1),
])
def test_the_named_ranges_are_what_validate_enforces(field, bounds, below, above):
    def config(value):
        if field in ("latent_dim", "hidden"):
            return TrainingConfig(model=ModelConfig(**{field: value}))
        return TrainingConfig(**{field: value})

    for value in bounds:
        config(value).validate()
    for value in (below, above):
        with pytest.raises(ConfigError, match=f"{bounds[1]:g}" if isinstance(bounds[1], float) else str(bounds[1])):
            config(value).validate()


def test_the_learning_rate_range_excludes_zero():
    TrainingConfig(lr=LR_RANGE[1]).validate()
    for value in (LR_RANGE[0], LR_RANGE[1] * 1.000001):
        with pytest.raises(ConfigError, match="Learning rate must be above 0 and at most 1"):
            TrainingConfig(lr=value).validate()


def test_kl_matches_closed_form_and_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p)
    assert torch.allclose(kl_per_dimension(mu, logvar), expected, atol=1e-5)


def test_negative_elbo_equals_bce_plus_beta_kl():
    x = torch.rand(6, 784)
    logits, mu, logvar = torch.randn(6, 784), torch.randn(6, 4), torch.randn(6, 4)
    terms = negative_elbo(logits, x, mu, logvar, beta=3.0)
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    assert torch.allclose(terms.reconstruction, bce, rtol=1e-4)
    assert torch.allclose(terms.loss, terms.reconstruction + 3.0 * terms.kl)


def test_iwae_is_tighter_than_the_elbo_on_average():
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, hidden=32))
    x = torch.rand(64, 784)
    one = iwae_bound(model, x, 1).mean().item()
    many = iwae_bound(model, x, 50).mean().item()
    assert math.isfinite(many) and many < one


def test_fast_bernoulli_loss_matches_torch_in_value_and_gradient():
    torch.manual_seed(3)
    logits = (torch.randn(32, 784) * 6).requires_grad_()
    reference_logits = logits.detach().clone().requires_grad_()
    x = torch.rand(32, 784) * (torch.rand(32, 784) > 0.7)
    mu, logvar = torch.zeros(32, 2), torch.zeros(32, 2)
    ours = negative_elbo(logits, x, mu, logvar).reconstruction
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(reference_logits, x, reduction="sum")
    (2.0 * ours).backward()
    (2.0 * theirs).backward()
    assert torch.allclose(ours, theirs, rtol=1e-5)
    assert torch.allclose(logits.grad, reference_logits.grad, atol=1e-6)
