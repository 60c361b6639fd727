"""The schema of a model file: what its metadata and tensors must be, checked by type and range.

`model_files.load_model` reads the bytes; this module says whether what they hold is a model
VAE Studio can use, with the same rules as the CLI and the Run form (the ranges of
`networks.py` and `training_config.py`, read through `fields.py`). Every problem is a
`ConfigError` naming the field; the caller adds the file's name.

Metadata (strings; JSON where structured):
  format, format_version     "vaestudio-model", "1"
  model_config               ModelConfig.from_dict
  training_config            TrainingConfig.from_dict (its model must equal model_config); its
                             precision is what trained the weights, "float32" where absent (files
                             from before the setting existed were all trained in float32)
  dataset                    text (informative; the training settings' dataset is the one used)
  epoch                      whole number, 0 .. EPOCH_RANGE's top
  class_names                list of text, at most MAX_CLASSES
  history_epochs             list of EpochResult.from_dict, per-dimension KL as long as the latent
  optimizer_param_groups     list of objects, each with "params": indices of optimizer.* tensors
  versions                   object
Tensors:
  model.*                    floating point, finite, the network's own names and shapes (load_state_dict)
  history.step_loss, .step_reconstruction, .step_kl   1-D floating point, one length
  optimizer.<index>.<name>   any numeric tensor; <index> listed in a param group
  rng.torch                  1-D uint8 (a torch.Generator state)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaestudio.core.errors import ConfigError
from vaestudio.core.models import fields
from vaestudio.core.models.history import MAX_LIST, EpochResult, TrainingHistory
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.safetensors_header import parse_json
from vaestudio.core.models.training_config import EPOCH_RANGE, TrainingConfig

FORMAT = "vaestudio-model"
FORMAT_VERSION = "1"
HISTORY_KEYS = ("step_loss", "step_reconstruction", "step_kl")
RNG_KEY = "rng.torch"
MAX_CLASSES = 100_000
MAX_STEPS = 100_000_000
MAX_TENSORS_PER_GROUP = 10_000
OPTIMIZER_VALUE_TYPES = (int, float, bool, str, type(None))


@dataclass
class ModelFileContents:
    """What a model file holds, every part checked; the weights still to be loaded into a network."""

    config: ModelConfig
    training: TrainingConfig
    epoch: int
    history: TrainingHistory
    class_names: list[str]
    weights: dict[str, torch.Tensor]
    optimizer_state: dict | None
    versions: dict
    rng_state: torch.Tensor | None


class NotOurFormat(ConfigError):
    """The file is sound safetensors but not a VAE Studio model, or a newer format."""


def read_contents(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> ModelFileContents:
    """Check a model file's metadata and tensors against the schema; `ConfigError` (the reason) if they fail."""
    if metadata.get("format") != FORMAT:
        raise NotOurFormat("is a safetensors file but not a VAE Studio model (its metadata has no model configuration)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise NotOurFormat(f"was written by a newer VAE Studio (format {metadata.get('format_version')!r:.20}); "
                           "update VAE Studio to open it")
    config = ModelConfig.from_dict(_json(metadata, "model_config"))
    training_values = fields.as_mapping(_json(metadata, "training_config"), "the training settings")
    training = TrainingConfig.from_dict({"precision": "float32", **training_values})
    if training.model != config:
        raise ConfigError(f"the training settings describe a {training.model} network but the file holds a {config}")
    epoch = _whole_number(metadata.get("epoch", "0"), "epoch", 0, EPOCH_RANGE[1])
    epochs = [EpochResult.from_dict(item)
              for item in fields.as_list(_json(metadata, "history_epochs", "[]"), "history_epochs", MAX_LIST)]
    for result in epochs:
        if len(result.test.kl_per_dim) not in (0, config.latent_dim):
            raise ConfigError(f"epoch {result.epoch}'s per-dimension KL has {len(result.test.kl_per_dim)} values "
                              f"for a latent of {config.latent_dim}")
        if result.test.active_units > config.latent_dim:
            raise ConfigError(f"epoch {result.epoch} has {result.test.active_units} active units "
                              f"of a latent of {config.latent_dim}")
    class_names = [fields.text_value(name, f"class name {index}") for index, name in
                   enumerate(fields.as_list(_json(metadata, "class_names", "[]"), "class_names", MAX_CLASSES))]
    versions = dict(fields.as_mapping(_json(metadata, "versions", "{}"), "versions"))
    history = TrainingHistory(epochs=epochs)
    for key in HISTORY_KEYS:
        setattr(history, key, _step_values(tensors.get(f"history.{key}"), key))
    if not len(history.step_loss) == len(history.step_reconstruction) == len(history.step_kl):
        raise ConfigError("the step history's loss, reconstruction and KL differ in length")
    weights = {name[len("model."):]: value for name, value in tensors.items() if name.startswith("model.")}
    for name, value in weights.items():
        if not value.is_floating_point():
            raise ConfigError(f"weight {name[:80]!r} holds {value.dtype}, not floating-point numbers")
        if not bool(torch.isfinite(value).all()):
            raise ConfigError(f"weight {name[:80]!r} holds NaN or infinite values (the model diverged before it was "
                              "saved); train it again from an earlier file or from scratch")
    rng_state = tensors.get(RNG_KEY)
    if rng_state is not None and (rng_state.dtype != torch.uint8 or rng_state.dim() != 1):
        raise ConfigError(f"the saved random stream is {rng_state.dtype} of shape {tuple(rng_state.shape)}, "
                          "not a 1-D byte tensor")
    return ModelFileContents(config, training, epoch, history, class_names, weights,
                             _optimizer_state(tensors, metadata), versions, rng_state)


def _json(metadata: dict[str, str], key: str, default: str | None = None):
    if key not in metadata and default is None:
        raise ConfigError(f"{key!r} is missing")
    return parse_json(metadata.get(key, default), key)


def _whole_number(text: str, what: str, low: int, high: int) -> int:
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 12):
        raise ConfigError(f"{what} must be a whole number from {low} to {high} (got {text!r:.40})")
    return fields.integer_value(int(text), what, low, high)


def _step_values(tensor: torch.Tensor | None, key: str) -> list[float]:
    if tensor is None:
        return []
    if not tensor.is_floating_point() or tensor.dim() != 1 or len(tensor) > MAX_STEPS:
        raise ConfigError(f"the step history {key!r} is {tensor.dtype} of shape {tuple(tensor.shape)}, "
                          "not a list of numbers")
    return tensor.tolist()


def _optimizer_state(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> dict | None:
    """The optimiser's state as torch's `load_state_dict` takes it, its structure checked."""
    if "optimizer_param_groups" not in metadata:
        return None
    groups = fields.as_list(_json(metadata, "optimizer_param_groups"), "optimizer_param_groups", 1000)
    indices: set[int] = set()
    for group in groups:
        group = fields.as_mapping(group, "an optimiser parameter group")
        params = fields.as_list(group.get("params"), "an optimiser group's params", MAX_TENSORS_PER_GROUP)
        indices.update(fields.integer_value(index, "an optimiser parameter index", 0, 2**31) for index in params)
        for key, value in group.items():
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(item, OPTIMIZER_VALUE_TYPES) for item in items):
                raise ConfigError(f"the optimiser setting {str(key)[:40]!r} is not a number, text or list of them")
        fields.number(group, "lr", 0.0, finite=True, default=0.001)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if not name.startswith("optimizer."):
            continue
        parts = name.split(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) not in indices:
            raise ConfigError(f"the optimiser tensor {name[:80]!r} belongs to no parameter group")
        state.setdefault(int(parts[1]), {})[parts[2]] = value
    return {"state": state, "param_groups": [dict(group) for group in groups]}

