import pytest
import torch

from vaestudio.core.errors import ModelFileError
from vaestudio.core.models.model_files import (
    import_pytorch_example,
    load_model,
    open_model,
    save_model,
)
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import Trainer


@pytest.fixture
def trained(splits):
    trainer = Trainer(TrainingConfig(dataset="tiny", model=ModelConfig("conv", 3, 16), epochs=2, batch_size=64,
                                     device="cpu"), splits)
    list(trainer.run())
    return trainer


def test_round_trip_keeps_weights_config_history_and_optimizer(trained, tmp_path):
    path = save_model(tmp_path / "m.safetensors", trained.model, trained.config, epoch=trained.epoch,
                      history=trained.history, class_names=trained.class_names, optimizer=trained.optimizer)
    saved = load_model(path)
    assert saved.config == trained.config.model and saved.training == trained.config
    assert saved.epoch == 2 and saved.class_names == [str(d) for d in range(10)]
    original = trained.state_snapshot()
    assert all(torch.equal(original[name], value) for name, value in saved.model.state_dict().items())
    assert saved.history.step_loss == pytest.approx(trained.history.step_loss)
    assert [e.test.loss for e in saved.history.epochs] == [e.test.loss for e in trained.history.epochs]
    assert not saved.model.training
    assert len(saved.optimizer_state["state"]) == len(trained.optimizer.state_dict()["state"])
    assert saved.test_loss == trained.history.epochs[-1].test.loss


def test_the_runs_random_stream_is_saved_and_restored(trained, tmp_path, splits):
    """Exact resume itself is tested in test_run.py (2 + 2 epochs equal 4, torch.equal); here: the file's part."""
    state = trained.generator.get_state()
    path = save_model(tmp_path / "m.safetensors", trained.model, trained.config, epoch=1, history=trained.history,
                      optimizer=trained.optimizer, rng_state=state)
    saved = load_model(path)
    assert torch.equal(saved.rng_state, state)
    resumed = Trainer(TrainingConfig(**{**trained.config.__dict__, "epochs": 2}), splits, model=saved.model,
                      optimizer_state=saved.optimizer_state, history=saved.history, start_epoch=1,
                      rng_state=saved.rng_state)
    assert torch.equal(resumed.generator.get_state(), state)


def test_a_file_without_a_random_stream_still_resumes(trained, tmp_path, splits):
    path = save_model(tmp_path / "old.safetensors", trained.model, trained.config, epoch=1, history=trained.history,
                      optimizer=trained.optimizer)  # as the first builds wrote them
    saved = load_model(path)
    assert saved.rng_state is None
    resumed = Trainer(TrainingConfig(**{**trained.config.__dict__, "epochs": 2}), splits, model=saved.model,
                      optimizer_state=saved.optimizer_state, history=saved.history, start_epoch=1)
    assert [type(record).__name__ for record in resumed.run()][-1] == "EpochResult"


def test_atomic_save_leaves_no_temporary_files(trained, tmp_path):
    save_model(tmp_path / "m.safetensors", trained.model, trained.config, epoch=1)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_unwritable_folder_gives_clear_error(trained, tmp_path):
    target = tmp_path / "file-not-folder"
    target.write_text("x")
    with pytest.raises(ModelFileError, match="Could not write the model to .*Choose a folder you can write to"):
        save_model(target / "m.safetensors", trained.model, trained.config, epoch=1)


@pytest.mark.parametrize("content, message", [
    (b"", "this file is not a valid model file: it is only 0 bytes long"),
    (b"hello world, not a model", "this file is not a valid model file: no safetensors header"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}        ", "not a valid model file: tensor 'a' has no description"),
])
def test_garbage_files(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        open_model(path)


def test_foreign_safetensors_file(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="is a safetensors file but not a VAE Studio model"):
        open_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="No model file at"):
        open_model(tmp_path / "nothing.safetensors")


def test_truncated_model_file(trained, tmp_path):
    path = save_model(tmp_path / "m.safetensors", trained.model, trained.config, epoch=1)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="not a valid model file: .* outside the file's .* bytes of data "
                       "\\(is it cut short\\?\\)"):
        open_model(path)


class ExampleVAE(torch.nn.Module):
    """The network of the PyTorch example vae/main.py, as its users saved it."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 400)
        self.fc21 = torch.nn.Linear(400, 20)
        self.fc22 = torch.nn.Linear(400, 20)
        self.fc3 = torch.nn.Linear(20, 400)
        self.fc4 = torch.nn.Linear(400, 784)

    def decode(self, z):
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z))))

    def encode(self, x):
        h1 = torch.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)


def test_import_pytorch_example_state_dict(tmp_path):
    example = ExampleVAE()
    path = tmp_path / "vae.pth"
    torch.save(example.state_dict(), path)
    saved = open_model(path)
    x, z = torch.rand(3, 784), torch.randn(3, 20)
    with torch.no_grad():
        assert torch.allclose(saved.model.decode(z), example.decode(z), atol=1e-6)
        for ours, theirs in zip(saved.model.encode(x), example.encode(x)):
            assert torch.allclose(ours, theirs, atol=1e-6)
    assert saved.config == ModelConfig("mlp", 20, 400)


def test_import_refuses_other_state_dicts_and_pickles(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"layer.weight": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match="is not the PyTorch example's VAE: expected the keys"):
        import_pytorch_example(path)
    evil = tmp_path / "evil.pt"
    torch.save({"fc1.weight": ExampleVAE}, evil)  # a class: only a full unpickle could read it
    with pytest.raises(ModelFileError, match="is not a PyTorch state_dict that can be read safely"):
        open_model(evil)


def test_a_folder_instead_of_a_file(tmp_path):
    with pytest.raises(ModelFileError, match="No model file at"):
        open_model(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.safetensors"
    path.write_bytes(b"x" * 20)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "open", refuse)
    with pytest.raises(ModelFileError, match="cannot be read \\(Permission denied\\). Check that the file exists"):
        open_model(path)


def test_model_path_is_checked_before_training(tmp_path):
    from vaestudio.core.models.model_files import check_model_path

    with pytest.raises(ModelFileError, match="is a folder; give a file name such as"):
        check_model_path(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ModelFileError, match="Cannot write a model into .*Choose a folder you can write to"):
        check_model_path(blocker / "model.safetensors")
    assert check_model_path(tmp_path / "new" / "m.safetensors") == tmp_path / "new" / "m.safetensors"
