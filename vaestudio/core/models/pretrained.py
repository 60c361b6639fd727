"""The pretrained models that ship in resources/pretrained, trained by `vaestudio train`."""

from __future__ import annotations

from pathlib import Path

from vaestudio.core.resources import resources_dir

DEFAULT_MODEL = "mnist-mlp-z2.safetensors"


def bundled_models() -> list[Path]:
    """Every bundled model file, the default one first; raises ResourceMissingError without resources."""
    folder = resources_dir() / "pretrained"
    models = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    return sorted(models, key=lambda path: path.name != DEFAULT_MODEL)


def default_bundled_model() -> Path | None:
    models = bundled_models()
    return models[0] if models else None
