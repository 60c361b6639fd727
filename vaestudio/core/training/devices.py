"""Choosing where to train: CUDA, then MPS, then the CPU."""

from __future__ import annotations

import torch

from vaestudio.core.errors import DeviceError


def available_devices() -> list[str]:
    """Every device present here, e.g. ['cpu', 'cuda:0', 'mps']."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def device_label(device: torch.device) -> str:
    """A name a person recognises, e.g. 'CUDA (NVIDIA H200)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU"


def resolve_device(name: str = "auto") -> torch.device:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' to a device that exists here."""
    name = (name or "auto").strip().lower()
    present = available_devices()
    if name == "auto":
        if any(d.startswith("cuda") for d in present):
            return torch.device("cuda")
        return torch.device("mps" if "mps" in present else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available here. "
                              "Use --device cpu (or auto), or check the NVIDIA driver with nvidia-smi.")
        if name != "cuda" and name not in present:
            raise DeviceError(f"{name} does not exist: this machine has {', '.join(present)}.")
        return torch.device(name)
    if name == "mps":
        if "mps" not in present:
            raise DeviceError("MPS (Apple GPU) was requested but is not available here. Use --device cpu or auto.")
        return torch.device("mps")
    raise DeviceError(f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps.")
