"""Hostile model files: each would write a marker file if VAE Studio ever unpickled it."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch


class WritesMarker:
    """Unpickling this runs `exec`, which writes the marker file (what an attacker's payload would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


class CustomLayer(torch.nn.Module):
    """A class of the file's own: only a full unpickle (never weights_only) could rebuild it."""


def hostile_model_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Name -> file, written into `folder`; none may create `marker` when opened."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    payload = {"fc1.weight": WritesMarker(marker)}

    files["pickle.pt"] = folder / "pickle.pt"
    files["pickle.pt"].write_bytes(pickle.dumps(payload, protocol=2))
    files["pickle-protocol-0.pkl"] = folder / "pickle-protocol-0.pkl"
    files["pickle-protocol-0.pkl"].write_bytes(pickle.dumps(payload, protocol=0))
    files["torch-zip.pt"] = folder / "torch-zip.pt"
    torch.save(payload, files["torch-zip.pt"])
    files["torch-legacy.pt"] = folder / "torch-legacy.pt"
    torch.save(payload, files["torch-legacy.pt"], _use_new_zipfile_serialization=False)
    files["custom-class.pt"] = folder / "custom-class.pt"
    torch.save({"fc1.weight": CustomLayer()}, files["custom-class.pt"])
    files["class-reference.pt"] = folder / "class-reference.pt"
    torch.save({"fc1.weight": CustomLayer}, files["class-reference.pt"])
    files["pt-renamed.safetensors"] = folder / "pt-renamed.safetensors"
    torch.save(payload, files["pt-renamed.safetensors"])
    files["pickle-renamed.safetensors"] = folder / "pickle-renamed.safetensors"
    files["pickle-renamed.safetensors"].write_bytes(pickle.dumps(payload, protocol=4))
    return files
