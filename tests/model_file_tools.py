"""Building valid model files and rewriting them into broken or hostile ones, for the trust tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from vaestudio.core.models.history import EpochResult, EvaluationResult, TrainingHistory
from vaestudio.core.models.model_files import save_model
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig

LATENT = 3


def write_valid_model(path: Path, dataset: str = "mnist") -> Path:
    """A small MLP model file with one epoch of history and an optimiser state, written by save_model."""
    config = ModelConfig("mlp", LATENT, 16)
    torch.manual_seed(0)
    model = build_model(config)
    training = TrainingConfig(dataset=dataset, model=config, epochs=2, batch_size=64, device="cpu")
    test = EvaluationResult(100.0, 90.0, 10.0, [3.0, 4.0, 3.0], 2, None, 0, 64)
    history = TrainingHistory([110.0, 105.0], [100.0, 96.0], [10.0, 9.0],
                              [EpochResult(1, 2, 107.0, 98.0, 9.5, test, 0.1, 2560.0)])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(4, 784))[0].sum().backward()
    optimizer.step()
    return save_model(path, model, training, epoch=1, history=history, class_names=[str(d) for d in range(10)],
                      optimizer=optimizer, rng_state=torch.Generator().manual_seed(1).get_state())


def read_parts(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8:8 + length])["__metadata__"]
    return load_bytes(data), metadata


def rewrite(path: Path, out: Path, *, metadata: dict | None = None, tensors: dict | None = None,
            json_fields: dict | None = None) -> Path:
    """A copy of `path` with metadata entries replaced (`metadata`: raw strings; `json_fields`: key -> function
    of the parsed JSON returning the new value) and tensors replaced or removed (a value of None removes)."""
    original_tensors, original_metadata = read_parts(path)
    new_metadata = dict(original_metadata)
    for key, change in (json_fields or {}).items():
        new_metadata[key] = json.dumps(change(json.loads(original_metadata[key])))
    new_metadata.update(metadata or {})
    new_tensors = dict(original_tensors)
    for name, value in (tensors or {}).items():
        if value is None:
            new_tensors.pop(name, None)
        else:
            new_tensors[name] = value
    out.write_bytes(save_bytes(new_tensors, new_metadata))
    return out


def raw_safetensors(header: dict, data: bytes) -> bytes:
    """A safetensors file with exactly this header (no checks): for offsets and sizes no writer would make."""
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + data
