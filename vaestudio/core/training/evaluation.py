"""Test-set metrics: negative ELBO and its terms, KL per dimension, active units, IWAE."""

from __future__ import annotations

import torch

from vaestudio.core.errors import ConfigError
from vaestudio.core.models.history import MAX_IWAE_SAMPLES, EvaluationResult
from vaestudio.core.models.networks import VAE
from vaestudio.core.training.objectives import (
    iwae_bound,
    kl_per_dimension,
    reconstruction_per_image,
)

ACTIVE_UNIT_THRESHOLD = 0.01


def to_pixels(images: torch.Tensor, mode: str = "continuous", generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C) to float pixels (N, H * W * C) in [0, 1], or binarised draws."""
    x = images.reshape(len(images), -1).float().div_(255.0)
    if mode == "binarized":
        return torch.bernoulli(x, generator=generator)
    return x


@torch.no_grad()
def evaluate(model: VAE, images: torch.Tensor, *, pixels: str = "continuous", batch_size: int | None = None,
             iwae_samples: int = 0, seed: int = 0) -> EvaluationResult:
    """Evaluate with posterior samples drawn from generators of its own, seeded with `seed`: the same model
    gives the same figures, and no other random stream (a training run's, torch's global one) is touched.
    Batches of 1000 images of 28x28 grayscale, and as many values at a time for larger ones (64x64 colour:
    63 images), so a conv network's activations stay small."""
    if batch_size is None:
        batch_size = max(1, 784_000 // model.config.pixels)
    if isinstance(iwae_samples, bool) or not isinstance(iwae_samples, int) or not 0 <= iwae_samples <= MAX_IWAE_SAMPLES:
        raise ConfigError(f"The IWAE sample count must be a whole number from 0 to {MAX_IWAE_SAMPLES:,} "
                          f"(got {iwae_samples}).")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pixel_generator = torch.Generator(device="cpu").manual_seed(seed)
    noise_generator = torch.Generator(device=device).manual_seed(seed)
    total_reconstruction = total_kl = total_iwae = 0.0
    kl_dims = torch.zeros(model.latent_dim, dtype=torch.float64)
    mu_sum = torch.zeros(model.latent_dim, dtype=torch.float64)
    mu_square_sum = torch.zeros(model.latent_dim, dtype=torch.float64)
    count = images.shape[0]
    for start in range(0, count, batch_size):
        batch = images[start:start + batch_size]
        if pixels == "binarized":
            x = to_pixels(batch.cpu(), pixels, pixel_generator).to(device)
        else:
            x = to_pixels(batch.to(device))
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, noise_generator)
        total_reconstruction += reconstruction_per_image(model.decode_logits(z), x).sum().item()
        kl = kl_per_dimension(mu, logvar).double()
        kl_dims += kl.sum(dim=0).cpu()
        total_kl += kl.sum().item()
        mu64 = mu.double().cpu()
        mu_sum += mu64.sum(dim=0)
        mu_square_sum += mu64.pow(2).sum(dim=0)
        if iwae_samples > 0:
            total_iwae += iwae_bound(model, x, iwae_samples, noise_generator).sum().item()
    model.train(was_training)
    mu_variance = mu_square_sum / count - (mu_sum / count).pow(2)
    return EvaluationResult(
        loss=(total_reconstruction + total_kl) / count,
        reconstruction=total_reconstruction / count,
        kl=total_kl / count,
        kl_per_dim=(kl_dims / count).tolist(),
        active_units=int((mu_variance > ACTIVE_UNIT_THRESHOLD).sum()),
        iwae=total_iwae / count if iwae_samples > 0 else None,
        iwae_samples=iwae_samples,
        images=count,
        dimensions=model.config.pixels,
    )
