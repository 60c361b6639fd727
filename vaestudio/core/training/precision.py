"""Which arithmetic a training step's forward pass runs in: float32, or bfloat16 under autocast.

`resolve_precision(setting, model, device)` turns the run's setting into what runs:

- "float32": always possible.
- "bfloat16": the forward pass under `torch.autocast` (convolutions and matrix products in
  bfloat16); weights, Adam's state, the loss (objectives.negative_elbo, fed float32 copies) and
  the test figures stay float32. Only on a device with fast native bfloat16 arithmetic: a CPU
  whose oneDNN has bfloat16 kernels and that has AVX512-BF16 or AMX instructions, a CUDA GPU
  with native bfloat16 (Ampere and newer). Elsewhere (MPS, older CPUs and GPUs, where it would
  be emulated and slower) asking for it is a `ConfigError` that says to use float32 or auto.
- "auto": bfloat16 for the convolutional VAE on such a device, float32 otherwise; never
  bfloat16 for the MLP, whose founding float32 step (steps.FusedMLPStep) stays as it is.

The figures behind "auto" (an AMD EPYC with avx512_bf16, 2 shared cores, torch 2.14, one
autograd step at batch 128, best of three rounds of 12 steps, img/s float32 -> bfloat16): conv
28x28 grayscale 4,180 -> 7,240, 32x32 colour 2,860 -> 4,480, 64x64 colour 610 -> 1,000, 64x64
grayscale 580 -> 1,120, so bfloat16 is faster for every conv shape and "auto" picks it for all
of them. The test loss after the same training (seed 1, batch 128, two epochs) is the same within
1%: conv on shapes 64x64 colour (10,000 training images) 4,588.80 nats (0.53876 bits/dim) in
float32, 4,589.51 (0.53884) in bfloat16, +0.015%; conv on MNIST 116.27 (0.21396) and 116.03
(0.21351), -0.21%. Over 8 epochs on shapes 32x32 with seeds 1-5, a run's collapsed start (KL near
0) lasted 2-7 epochs in float32 and 2-14 in bfloat16, bfloat16 leaving it later for two seeds and
earlier for two; with a KL warm-up of 3 epochs, seed 2 (14 epochs in bfloat16) left it at epoch 3
in both.
"""

from __future__ import annotations

import contextlib

import torch

from vaestudio.core.errors import ConfigError
from vaestudio.core.models.networks import VAE
from vaestudio.core.models.training_config import PRECISIONS

FLOAT32, BFLOAT16 = "float32", "bfloat16"


def _cpu_has_fast_bfloat16() -> bool:
    """oneDNN's bfloat16 kernels and native bfloat16 instructions (AVX512-BF16 or AMX) on this CPU."""
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a torch without these probes: assume none
        return False


def bfloat16_missing(device: torch.device) -> str | None:
    """None if `device` has fast native bfloat16 arithmetic, else why not (a sentence)."""
    if device.type == "cpu":
        return None if _cpu_has_fast_bfloat16() else (
            "this CPU has no native bfloat16 arithmetic (AVX512-BF16 or AMX), so bfloat16 would be slower than float32")
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported(including_emulation=False) else (
            f"{torch.cuda.get_device_name(device)} has no native bfloat16 arithmetic")
    return f"bfloat16 training is not offered on {device.type.upper()}"


def check_precision(setting: str, device: torch.device) -> None:
    """`ConfigError` if `setting` cannot run on `device` (before any data is read, where the caller can)."""
    if setting not in PRECISIONS:
        raise ConfigError(f"Unknown precision {str(setting)[:40]!r}: choose auto, float32 or bfloat16.")
    if setting == BFLOAT16 and (missing := bfloat16_missing(device)) is not None:
        raise ConfigError(f"bfloat16 was asked for but {missing}. Train in float32 or auto "
                          "(--precision float32 or auto; Precision in the Run form).")


def resolve_precision(setting: str, model: VAE, device: torch.device) -> str:
    """"float32" or "bfloat16": what a run with precision `setting` trains `model` in on `device` (module doc)."""
    check_precision(setting, device)
    if setting != "auto":
        return setting
    return BFLOAT16 if model.config.kind == "conv" and bfloat16_missing(device) is None else FLOAT32


def forward_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """What the forward pass runs inside: autocast to bfloat16, or nothing for float32."""
    if precision == BFLOAT16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
