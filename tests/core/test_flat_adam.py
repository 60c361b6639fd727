import copy

import pytest
import torch

from vaestudio.core.errors import ModelFileError
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.flat_adam import FlatAdam
from vaestudio.core.training.trainer import Trainer


def two_models():
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", latent_dim=3, hidden=8))
    return model, copy.deepcopy(model)


def set_grads(model, flat_model, seed):
    generator = torch.Generator().manual_seed(seed)
    for parameter, flat_parameter in zip(model.parameters(), flat_model.parameters()):
        grad = torch.randn(parameter.shape, generator=generator)
        parameter.grad = grad.clone()
        flat_parameter.grad.copy_(grad)  # into the view, as the training step does


def test_flat_adam_takes_the_same_steps_as_torch_adam():
    model, flat_model = two_models()
    reference = torch.optim.Adam(model.parameters(), lr=1e-2)
    flat = FlatAdam(flat_model.parameters(), lr=1e-2)
    for step in range(5):
        set_grads(model, flat_model, step)
        reference.step()
        flat.step()
    for (name, expected), actual in zip(model.named_parameters(), flat_model.parameters()):
        torch.testing.assert_close(actual, expected, msg=name)
        assert actual.data_ptr() != expected.data_ptr()
    # every parameter lives in the one flat tensor
    start = flat.flat.data_ptr()
    end = start + flat.flat.numel() * flat.flat.element_size()
    assert all(start <= parameter.data_ptr() < end for parameter in flat_model.parameters())


def test_state_dict_has_torch_adams_per_parameter_layout_both_ways():
    model, flat_model = two_models()
    reference = torch.optim.Adam(model.parameters(), lr=1e-2)
    flat = FlatAdam(flat_model.parameters(), lr=1e-2)
    assert flat.state_dict()["state"] == {}
    for step in range(3):
        set_grads(model, flat_model, step)
        reference.step()
        flat.step()
    expected, actual = reference.state_dict(), flat.state_dict()
    assert actual["param_groups"][0]["params"] == expected["param_groups"][0]["params"]
    assert actual["state"].keys() == expected["state"].keys()
    for index, values in expected["state"].items():
        for key, value in values.items():
            torch.testing.assert_close(actual["state"][index][key], value, msg=f"{index}.{key}")

    # a torch Adam's state loads into FlatAdam and carries on identically
    _, resumed_model = two_models()
    resumed_model.load_state_dict(model.state_dict())
    resumed = FlatAdam(resumed_model.parameters(), lr=1e-2)
    resumed.load_state_dict(copy.deepcopy(expected))
    set_grads(model, resumed_model, 99)
    reference.step()
    resumed.step()
    for expected_parameter, actual_parameter in zip(model.parameters(), resumed_model.parameters()):
        torch.testing.assert_close(actual_parameter, expected_parameter)


def test_state_for_another_network_is_refused():
    model, flat_model = two_models()
    flat = FlatAdam(flat_model.parameters(), lr=1e-2)
    other = torch.optim.Adam(build_model(ModelConfig("mlp", latent_dim=4, hidden=8)).parameters(), lr=1e-2)
    for parameter in other.param_groups[0]["params"]:
        parameter.grad = torch.ones_like(parameter)
    other.step()
    with pytest.raises(ValueError, match="different network"):
        flat.load_state_dict(other.state_dict())
    partial = other.state_dict()
    partial["state"] = {0: partial["state"][0]}
    partial["param_groups"][0]["params"] = list(range(10))
    with pytest.raises(ValueError, match="only some"):
        flat.load_state_dict(partial)


def test_a_trainer_refuses_optimiser_state_that_does_not_fit(splits):
    config = TrainingConfig(model=ModelConfig("mlp", latent_dim=4, hidden=32), epochs=1, batch_size=64, device="cpu")
    bad_state = {"state": {}, "param_groups": [{"params": [0, 1], "lr": 1e-3}]}
    with pytest.raises(ModelFileError, match="does not fit its network.*Train a new model"):
        Trainer(config, splits, optimizer_state=bad_state)


@pytest.mark.parametrize("clear", ["optimizer", "model"])
def test_gradients_cleared_the_usual_ways_still_reach_the_update(clear):
    model, flat_model = two_models()
    reference = torch.optim.Adam(model.parameters(), lr=1e-2)
    flat = FlatAdam(flat_model.parameters(), lr=1e-2)
    for step in range(3):
        (flat.zero_grad if clear == "optimizer" else flat_model.zero_grad)()  # the latter sets them to None
        generator = torch.Generator().manual_seed(step)
        for parameter, flat_parameter in zip(model.parameters(), flat_model.parameters()):
            grad = torch.randn(parameter.shape, generator=generator)
            parameter.grad = grad.clone()
            if flat_parameter.grad is None:
                flat_parameter.grad = grad.clone()  # as autograd leaves it: a new tensor
            else:
                flat_parameter.grad.add_(grad)
        reference.step()
        flat.step()
    for expected, actual in zip(model.parameters(), flat_model.parameters()):
        torch.testing.assert_close(actual, expected)


def test_rebinding_a_parameter_raises_at_the_next_step():
    from vaestudio.core.errors import TrainingError
    model = torch.nn.Linear(3, 2)
    flat = FlatAdam(model.parameters(), lr=1e-2)
    model.weight.data = model.weight.data.clone()  # no longer a view of the flat tensor
    with pytest.raises(TrainingError, match="parameters were moved or replaced"):
        flat.step()
