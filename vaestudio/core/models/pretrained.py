"""The pretrained models that ship in resources/pretrained, trained by `vaestudio train`."""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_MODEL = "mnist-mlp-z2.safetensors"


def resources_dir() -> Path:
    """The resources folder of a source checkout or editable install, else the installed data folder."""
    checkout = Path(__file__).resolve().parents[3] / "resources"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "vaestudio" / "resources"


def bundled_models() -> list[Path]:
    """Every bundled model file, the default one first."""
    folder = resources_dir() / "pretrained"
    models = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    return sorted(models, key=lambda path: path.name != DEFAULT_MODEL)


def default_bundled_model() -> Path | None:
    models = bundled_models()
    return models[0] if models else None
