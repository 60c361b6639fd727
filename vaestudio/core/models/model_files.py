"""Model files: one safetensors file per model, never unpickled.

The tensors hold the weights (`model.*`), the optimiser's state for resuming
(`optimizer.*`) and the per-step loss history (`history.*`). The metadata (strings, JSON
where structured) holds the format version, model and training configuration, dataset,
epoch, per-epoch results and the versions that wrote it.
"""

from __future__ import annotations

import json
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from vaestudio import __version__
from vaestudio.core.data.paths import atomic_write_bytes
from vaestudio.core.errors import ConfigError, ModelFileError, VaeStudioError
from vaestudio.core.models.history import TrainingHistory
from vaestudio.core.models.model_schema import (
    FORMAT,
    FORMAT_VERSION,
    HISTORY_KEYS,
    RNG_KEY,
    NotOurFormat,
    read_contents,
)
from vaestudio.core.models.networks import VAE, ModelConfig, build_model
from vaestudio.core.models.safetensors_header import HeaderError, read_checked
from vaestudio.core.models.training_config import TrainingConfig


@dataclass
class SavedModel:
    """A model read from disk (always on the CPU, in eval mode) and what came with it."""

    model: VAE
    training: TrainingConfig
    epoch: int = 0
    history: TrainingHistory = field(default_factory=TrainingHistory)
    class_names: list[str] = field(default_factory=list)
    optimizer_state: dict | None = None
    source: str = ""
    versions: dict = field(default_factory=dict)
    rng_state: torch.Tensor | None = None  # the run's random stream at `epoch`, for an exact resume

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def test_loss(self) -> float | None:
        return self.history.epochs[-1].test.loss if self.history.epochs else None


def save_model(path: str | Path, model: VAE, training: TrainingConfig, *, epoch: int,
               history: TrainingHistory | None = None, class_names: list[str] | None = None,
               optimizer: torch.optim.Optimizer | None = None, rng_state: torch.Tensor | None = None) -> Path:
    """Write the model atomically (a temporary file renamed into place)."""
    path = Path(path)
    history = history or TrainingHistory()
    # copies: a model's parameters may be views of one shared tensor (FlatAdam), which safetensors refuses
    tensors = {f"model.{name}": value.detach().to("cpu", copy=True).contiguous()
               for name, value in model.state_dict().items()}
    for key in HISTORY_KEYS:
        tensors[f"history.{key}"] = torch.tensor(getattr(history, key), dtype=torch.float32)
    if rng_state is not None:
        tensors[RNG_KEY] = rng_state.detach().to("cpu", torch.uint8, copy=True).contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": json.dumps(model.config.to_dict()),
        "training_config": json.dumps(training.to_dict()),
        "dataset": training.dataset,
        "epoch": str(epoch),
        "class_names": json.dumps(list(class_names or [])),
        "history_epochs": json.dumps([result.to_dict() for result in history.epochs]),
        "versions": json.dumps({"vaestudio": __version__, "torch": torch.__version__,
                                "python": platform.python_version()}),
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().to("cpu", copy=True).contiguous()
        metadata["optimizer_param_groups"] = json.dumps(state["param_groups"])
    try:
        atomic_write_bytes(path, save_safetensors_bytes(tensors, metadata))
    except OSError as error:
        raise ModelFileError(f"Could not write the model to {path}: {error.strerror or error}. "
                             "Choose a folder you can write to with free space.") from error
    return path


def check_model_path(path: str | Path) -> Path:
    """Fail now, not after an epoch of training, when a model cannot be written at `path`."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name such as {path / 'model.safetensors'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise ModelFileError(f"Cannot write a model into {path.parent} ({error.strerror or error}). "
                             "Choose a folder you can write to.") from error
    return path


def _unreadable(path: Path, error: OSError) -> ModelFileError:
    return ModelFileError(f"{path} cannot be read ({error.strerror or error}). Check that the file exists "
                          "and that you may read it.")


def not_a_model_file(path: str | Path, reason: object) -> ModelFileError:
    """The one message for a file that cannot be used as a model, whatever the reason."""
    reason = str(reason).strip().splitlines()[0][:300] if str(reason).strip() else type(reason).__name__
    return ModelFileError(f"{path}: this file is not a valid model file: {reason.rstrip('.')}. Open a model saved by "
                          "VAE Studio (.safetensors) or a state_dict of the PyTorch example's VAE.")


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        data, _, metadata = read_checked(path)
    except OSError as error:
        raise _unreadable(path, error) from error
    except HeaderError as error:
        raise not_a_model_file(path, error) from None
    try:
        tensors = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as error:
        raise not_a_model_file(path, f"it is damaged ({error})") from None
    return tensors, metadata


def load_model(path: str | Path) -> SavedModel:
    """Read a VAE Studio model file onto the CPU, whatever device trained it.

    Everything in it is checked against the schema (model_schema.py) first; any problem, and
    any unexpected failure while reading, is a `ModelFileError` saying the file is not valid.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}.")
    return _refusing_failures(_load_model, path)


def _refusing_failures(read: Callable[[Path], SavedModel], path: Path) -> SavedModel:
    """`read(path)`; any failure but our own errors means the file is not a valid model file (a hostile file
    may make any library fail: the person sees our message, never a traceback)."""
    try:
        return read(path)
    except VaeStudioError:
        raise
    except Exception as error:
        raise not_a_model_file(path, f"{type(error).__name__}: {error}") from error


def _load_model(path: Path) -> SavedModel:
    tensors, metadata = _read_safetensors(path)
    try:
        contents = read_contents(tensors, metadata)
    except NotOurFormat as error:
        raise ModelFileError(f"{path} {error}.") from None
    except ConfigError as error:
        raise not_a_model_file(path, error) from None
    model = build_model(contents.config)
    try:
        model.load_state_dict(contents.weights)
    except RuntimeError as error:
        raise not_a_model_file(path, f"the weights do not match the {contents.config.kind} network it describes "
                                     f"({str(error).splitlines()[-1].strip()[:200]})") from None
    model.eval()
    return SavedModel(model, contents.training, contents.epoch, contents.history, contents.class_names,
                      contents.optimizer_state, str(path), contents.versions, contents.rng_state)


PYTORCH_EXAMPLE_KEYS = {
    "fc1": "encoder_hidden", "fc21": "encoder_mu", "fc22": "encoder_logvar",
    "fc3": "decoder_hidden", "fc4": "decoder_out",
}


def import_pytorch_example(path: str | Path) -> SavedModel:
    """Open a state_dict saved from the PyTorch example's VAE (`torch.save(model.state_dict(), ...)`).

    torch.load runs with `weights_only=True`: tensors and plain containers only, never a class
    or a function, so a crafted archive cannot run code (tests/core/test_hostile_models.py).
    """
    return _refusing_failures(_import_pytorch_example, Path(path))


def _import_pytorch_example(path: Path) -> SavedModel:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file that is not a checkpoint
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path} is not a PyTorch state_dict that can be read safely ({reason}). Open a "
                             "VAE Studio .safetensors file or a state_dict saved with torch.save.") from error
    if not isinstance(state, dict):
        raise ModelFileError(f"{path} holds a {type(state).__name__}, not a state_dict of the PyTorch example's VAE.")
    expected = {f"{old}.{kind}" for old in PYTORCH_EXAMPLE_KEYS for kind in ("weight", "bias")}
    if set(state) != expected:
        found = ", ".join(sorted(str(key)[:40] for key in list(state)[:20])) or "none"
        raise ModelFileError(f"{path} is not the PyTorch example's VAE: expected the keys "
                             f"{', '.join(sorted(expected))}; found {found}.")
    for key, value in state.items():
        wanted = 2 if key.endswith("weight") else 1
        if not isinstance(value, torch.Tensor) or value.dim() != wanted or not value.is_floating_point():
            what = f"a {value.dim()}-d {value.dtype} tensor" if isinstance(value, torch.Tensor) else type(value).__name__
            raise not_a_model_file(path, f"{key} is {what}, not a {wanted}-d tensor of floating-point weights")
        if not bool(torch.isfinite(value).all()):
            raise not_a_model_file(path, f"{key} holds NaN or infinite values")
    hidden, latent = state["fc1.weight"].shape[0], state["fc21.weight"].shape[0]
    try:
        config = ModelConfig("mlp", latent, hidden).validate()
    except ConfigError as error:
        raise not_a_model_file(path, error) from None
    model = build_model(config)
    renamed = {f"{PYTORCH_EXAMPLE_KEYS[key.split('.')[0]]}.{key.split('.')[1]}": value for key, value in state.items()}
    try:
        model.load_state_dict(renamed)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: the layer shapes are not those of the PyTorch example's VAE.") from error
    model.eval()
    return SavedModel(model, TrainingConfig(dataset="mnist", model=config), class_names=[str(d) for d in range(10)],
                      source=str(path))


def open_model(path: str | Path) -> SavedModel:
    """Open either kind of model file, told apart by its first bytes.

    The only exception it raises is `ModelFileError` (and KeyboardInterrupt): every open path
    (the CLI's eval, sheet, export and train --resume, the window's File > Open model...) uses it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}.")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise _unreadable(path, error) from error
    if head.startswith(b"PK"):
        return import_pytorch_example(path)
    return load_model(path)
