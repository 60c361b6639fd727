"""Image size and channels as properties of the dataset and the model, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tiny_data import tiny_splits

from vaestudio.core.data.datasets import DatasetSplits, ImageDataset
from vaestudio.core.data.image_shape import conform_images, convert_channels, resize_images
from vaestudio.core.errors import ConfigError
from vaestudio.core.models.model_files import load_model, save_model
from vaestudio.core.models.networks import MLPVAE, ConvVAE, ModelConfig, build_model, conv_feature_sides
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.evaluation import evaluate, to_pixels
from vaestudio.core.training.steps import AutogradStep, FusedMLPStep
from vaestudio.core.training.trainer import Trainer


def colour_splits(size: int = 32, train: int = 64, test: int = 16) -> DatasetSplits:
    rng = np.random.default_rng(0)

    def split(name: str, count: int) -> ImageDataset:
        images = rng.integers(0, 60, (count, size, size, 3)).astype(np.uint8)
        labels = rng.integers(0, 2, count)
        for index, label in enumerate(labels):
            images[index, 4:12, 4:20, int(label)] = 220  # a red or a green bar
        return ImageDataset("colour", name, torch.from_numpy(images), torch.from_numpy(labels), ["red", "green"])

    return DatasetSplits(split("train", train), split("test", test))


def test_old_model_file_without_image_fields_opens_as_28x28_grayscale(tmp_path: Path) -> None:
    """A file written as the code before image sizes wrote it: no image_size/channels in either config."""
    path = tmp_path / "old.safetensors"
    save_model(path, build_model(ModelConfig("mlp", 8, 32)), TrainingConfig(model=ModelConfig("mlp", 8, 32)), epoch=1)
    tensors = load_file(path)
    with safe_open(path, "pt") as handle:
        metadata = dict(handle.metadata())
    model_config = json.loads(metadata["model_config"])
    training_config = json.loads(metadata["training_config"])
    for values in (model_config, training_config["model"]):
        del values["image_size"], values["channels"]
    del training_config["image_size"], training_config["channels"]
    metadata.update(model_config=json.dumps(model_config), training_config=json.dumps(training_config))
    save_file(tensors, path, metadata)
    saved = load_model(path)
    assert (saved.config.image_size, saved.config.channels, saved.config.pixels) == (28, 1, 784)
    assert saved.model.encoder_hidden.in_features == 784
    assert saved.training.image_size is None and saved.training.channels is None


def test_model_files_record_image_size_and_channels(tmp_path: Path) -> None:
    config = ModelConfig("conv", 6, 64, image_size=64, channels=3)
    model = build_model(config)
    save_model(tmp_path / "m.safetensors", model, TrainingConfig(model=config), epoch=0)
    saved = load_model(tmp_path / "m.safetensors")
    assert (saved.config.image_size, saved.config.channels) == (64, 3)
    z = torch.randn(2, 6)
    assert torch.equal(saved.model.decode(z), model.eval().decode(z))


def test_image_fields_are_validated_where_the_config_is_read() -> None:
    with pytest.raises(ConfigError, match="Image size 48 is not supported: choose 28, 32, 64"):
        ModelConfig(image_size=48).validate()
    with pytest.raises(ConfigError, match="Channels 4 is not supported"):
        ModelConfig(channels=4).validate()
    with pytest.raises(ConfigError, match="Image size -28"):
        ModelConfig.from_dict({"kind": "mlp", "latent_dim": 4, "hidden": 8, "image_size": -28}).validate()
    with pytest.raises(ConfigError, match="Image size 30 is not supported"):
        TrainingConfig(image_size=30).validate()


@pytest.mark.parametrize(("size", "channels", "sides"), [(28, 1, [14, 7]), (32, 3, [16, 8, 4]),
                                                         (64, 3, [32, 16, 8, 4]), (64, 1, [32, 16, 8, 4])])
def test_conv_depth_follows_the_image_size(size: int, channels: int, sides: list[int]) -> None:
    assert conv_feature_sides(size) == sides
    model = build_model(ModelConfig("conv", 5, 32, image_size=size, channels=channels))
    convolutions = [layer for layer in model.encoder_features if isinstance(layer, torch.nn.Conv2d)]
    assert len(convolutions) == len(sides) and convolutions[0].in_channels == channels
    x = torch.rand(3, size * size * channels)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 5)


def test_conv_at_28_keeps_the_earlier_layers() -> None:
    """The 28x28 grayscale conv network has the parameter names and shapes that earlier files hold."""
    shapes = {name: tuple(p.shape) for name, p in build_model(ModelConfig("conv", 20, 400)).state_dict().items()}
    assert shapes["encoder_features.0.weight"] == (32, 1, 4, 4)
    assert shapes["encoder_features.2.weight"] == (64, 32, 4, 4)
    assert shapes["encoder_features.5.weight"] == (400, 64 * 7 * 7)
    assert shapes["decoder_features.5.weight"] == (64, 32, 4, 4)
    assert shapes["decoder_features.7.weight"] == (32, 1, 4, 4)
    assert len(shapes) == 18


def test_conv_colour_channels_follow_the_picture_layout() -> None:
    """Pixels come as (H, W, 3): the network's first convolution sees channel c as the picture's channel c."""
    model = build_model(ModelConfig("conv", 4, 16, image_size=32, channels=3))
    first = model.encoder_features[0]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, 2] = 1.0  # output 0 sums the blue channel
    picture = torch.zeros(1, 32, 32, 3)
    picture[..., 2] = 1.0
    out = first(picture.reshape(1, -1).reshape(-1, 32, 32, 3).permute(0, 3, 1, 2))
    assert out[0, 0, 5, 5] == 16.0 and out[0, 1].abs().max() == 0


def test_auto_kind_and_trainer_take_the_shape_from_the_data() -> None:
    trainer = Trainer(TrainingConfig(model=ModelConfig("auto", 4, 32), epochs=1, batch_size=32), colour_splits(32))
    assert isinstance(trainer.model, ConvVAE)
    assert (trainer.config.model.kind, trainer.config.model.image_size, trainer.config.model.channels) == ("conv", 32, 3)
    assert isinstance(trainer.step, AutogradStep)
    founding = Trainer(TrainingConfig(model=ModelConfig("auto", 4, 32), epochs=1), tiny_splits(64, 16))
    assert isinstance(founding.model, MLPVAE) and isinstance(founding.step, FusedMLPStep)
    mlp_colour = Trainer(TrainingConfig(model=ModelConfig("mlp", 4, 32), epochs=1), colour_splits(32))
    assert mlp_colour.model.encoder_hidden.in_features == 32 * 32 * 3 and isinstance(mlp_colour.step, AutogradStep)
    with pytest.raises(ConfigError, match="takes 28x28 grayscale images but the dataset holds 32x32 colour ones"):
        Trainer(TrainingConfig(model=ModelConfig("mlp", 4, 32)), colour_splits(32), model=founding.model)


def test_colour_mlp_trains_and_reports_bits_per_dim() -> None:
    trainer = Trainer(TrainingConfig(model=ModelConfig("mlp", 4, 32), epochs=2, batch_size=16, lr=3e-3), colour_splits(32))
    results = [record for record in trainer.run() if not hasattr(record, "step")]
    first, last = results[0].test, results[-1].test
    assert last.loss < first.loss
    assert last.dimensions == 32 * 32 * 3
    assert last.bits_per_dim == pytest.approx(last.loss / (math.log(2) * 3072))
    assert last.to_dict()["bits_per_dim"] == pytest.approx(last.bits_per_dim)


def test_founding_evaluation_reports_bits_per_dim_of_784_values() -> None:
    model = build_model(ModelConfig("mlp", 4, 32))
    result = evaluate(model, tiny_splits(16, 8).test.images)
    assert result.dimensions == 784 and result.bits_per_dim == pytest.approx(result.loss / (math.log(2) * 784))


def test_to_pixels_flattens_pictures_in_their_layout() -> None:
    images = torch.arange(2 * 28 * 28 * 3, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(2, 28, 28, 3)
    x = to_pixels(images)
    assert x.shape == (2, 28 * 28 * 3) and x[0, 5] == images[0, 0, 1, 2] / 255.0


def test_conform_images_resizes_and_converts_uint8() -> None:
    gray = np.full((3, 28, 28), 90, np.uint8)
    colour = conform_images(gray, 64, 3)
    assert colour.shape == (3, 64, 64, 3) and colour.dtype == np.uint8 and (colour == 90).all()
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    rgb[..., 0] = 200
    assert (convert_channels(rgb, 1) == round(0.299 * 200)).all()
    small = resize_images(np.arange(4 * 64 * 64, dtype=np.int64).reshape(4, 64, 64).astype(np.uint8) * 0 + 7, 32)
    assert small.shape == (4, 32, 32) and (small == 7).all()


def test_colour_sheets_show_the_decoded_colours_and_labelled_rows() -> None:
    from vaestudio.core.latent.sheets import SheetSpec, animation_frames, make_sheet, sheet_images, to_uint8
    from vaestudio.core.latent.space import decode_latents, sample_prior

    torch.manual_seed(0)
    model = build_model(ModelConfig("conv", 3, 16, image_size=32, channels=3)).eval()
    sheet = make_sheet(model, SheetSpec("samples", rows=1, cols=2, padding=1, scale=2, seed=4))
    decoded = to_uint8(decode_latents(model, sample_prior(2, 3, 4)))
    assert decoded.shape == (2, 32, 32, 3)
    assert sheet.picture.shape == (1 + 64 + 1, 1 + 2 * 65, 3)
    assert np.array_equal(sheet.picture[1:65:2, 1:65:2], decoded[0])
    assert np.array_equal(sheet.picture[1:65:2, 66:130:2], decoded[1])
    spec = SheetSpec("traversal", rows=2, cols=3, traversal_dims=(0, 2), row_labels=("z1 x", "z3 colour"))
    labelled = make_sheet(model, spec)
    unlabelled = make_sheet(model, SheetSpec("traversal", rows=2, cols=3, traversal_dims=(0, 2)))
    margin = labelled.picture.shape[1] - unlabelled.picture.shape[1]
    assert margin > 20 and np.array_equal(labelled.picture[:, margin:], unlabelled.picture)
    assert (labelled.picture[:, :margin] > 200).any()  # the labels' ink on the black background
    frames = animation_frames(sheet_images(model, spec), spec)
    assert len(frames) == 3 and frames[0].shape[2] == 3
    with pytest.raises(ConfigError, match="2 rows but 1 row labels"):
        SheetSpec("traversal", rows=2, cols=3, row_labels=("z1",)).validate(3, 32)
