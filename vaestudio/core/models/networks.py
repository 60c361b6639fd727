"""The VAE networks: the founding MLP and a small convolutional one.

Both map uint8-derived pixels in [0, 1] of shape (N, 1, 28, 28) or (N, 784) to the
posterior parameters (mu, logvar) and decode a latent z back to Bernoulli logits of 784
pixels. Logits (not sigmoid outputs) leave the decoder so the loss can use the stable
`binary_cross_entropy_with_logits`; `decode` applies the sigmoid for pictures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vaestudio.core.errors import ConfigError

IMAGE_SIZE = 28
PIXELS = IMAGE_SIZE * IMAGE_SIZE
MODEL_KINDS = ("mlp", "conv")
LATENT_RANGE = (2, 128)  # the allowed values, ends included; the Run form's limits too
HIDDEN_RANGE = (8, 8192)


@dataclass(frozen=True)
class ModelConfig:
    """What a model file needs to rebuild the network."""

    kind: str = "mlp"
    latent_dim: int = 20
    hidden: int = 400

    def validate(self) -> "ModelConfig":
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"Unknown model type {self.kind!r}: choose one of {', '.join(MODEL_KINDS)}.")
        low, high = LATENT_RANGE
        if not low <= int(self.latent_dim) <= high:
            raise ConfigError(f"Latent size {self.latent_dim} is out of range: choose {low} to {high}.")
        low, high = HIDDEN_RANGE
        if not low <= int(self.hidden) <= high:
            raise ConfigError(f"Hidden width {self.hidden} is out of range: choose {low} to {high}.")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return cls(kind=str(values["kind"]), latent_dim=int(values["latent_dim"]), hidden=int(values["hidden"]))


def standard_normal_like(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """N(0, 1) draws shaped like `tensor`, from `generator` when one is given."""
    if generator is None:
        return torch.randn_like(tensor)
    return torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype, device=tensor.device)


class VAE(nn.Module):
    """Shared behaviour: reparameterisation, decode to pixels, full forward pass."""

    config: ModelConfig

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of shape (N, 784)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means in [0, 1] of shape (N, 784)."""
        return torch.sigmoid(self.decode_logits(z))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + std * eps, with eps drawn from `generator` (a run's own stream) or torch's global one."""
        std = torch.exp(0.5 * logvar)
        return mu + std * standard_normal_like(std, generator)

    def forward(self, x: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar


class MLPVAE(VAE):
    """The founding network of the PyTorch example: 784 -> hidden -> (mu, logvar) -> hidden -> 784."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder_hidden = nn.Linear(PIXELS, config.hidden)
        self.encoder_mu = nn.Linear(config.hidden, config.latent_dim)
        self.encoder_logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder_hidden = nn.Linear(config.latent_dim, config.hidden)
        self.decoder_out = nn.Linear(config.hidden, PIXELS)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.encoder_hidden(x.reshape(-1, PIXELS)))
        return self.encoder_mu(h), self.encoder_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(torch.relu(self.decoder_hidden(z)))


class ConvVAE(VAE):
    """A small convolutional VAE: two strided convolutions down to 7x7, mirrored up again."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder_features = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),   # 14x14
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),  # 7x7
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, config.hidden), nn.ReLU(),
        )
        self.encoder_mu = nn.Linear(config.hidden, config.latent_dim)
        self.encoder_logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder_features = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, 64 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),              # 28x28
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder_features(x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE))
        return self.encoder_mu(h), self.encoder_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_features(z).reshape(-1, PIXELS)


def build_model(config: ModelConfig) -> VAE:
    """A freshly initialised network for `config`."""
    config.validate()
    return MLPVAE(config) if config.kind == "mlp" else ConvVAE(config)
