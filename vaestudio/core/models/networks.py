"""The VAE networks: the founding MLP and a convolutional one whose depth follows the image size.

Images are square, `image_size` pixels a side, with 1 (grayscale) or 3 (RGB) channels, laid
out as pictures are: (H, W) or (H, W, 3) per image. Both networks take uint8-derived pixels in
[0, 1], flattened to (N, H * W * C) in that order, to the posterior parameters (mu, logvar),
and decode a latent z back to Bernoulli logits of the same H * W * C values. Logits (not
sigmoid outputs) leave the decoder so the loss can use the stable
`binary_cross_entropy_with_logits`; `decode` applies the sigmoid for pictures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from vaestudio.core.data.image_shape import CHANNEL_COUNTS, IMAGE_SIZES
from vaestudio.core.errors import ConfigError
from vaestudio.core.models import fields

IMAGE_SIZE = 28  # the founding size (MNIST), and that of every model file written before sizes were recorded
MODEL_KINDS = ("mlp", "conv")
AUTO_KIND = "auto"  # a request only: the MLP up to 28x28, the conv network above (see `resolve_kind`)
LATENT_RANGE = (2, 128)  # the allowed values, ends included; the Run form's limits too
HIDDEN_RANGE = (8, 8192)


@dataclass(frozen=True)
class ModelConfig:
    """What a model file needs to rebuild the network."""

    kind: str = "mlp"
    latent_dim: int = 20
    hidden: int = 400
    image_size: int = IMAGE_SIZE
    channels: int = 1

    def validate(self) -> "ModelConfig":
        if self.kind not in MODEL_KINDS + (AUTO_KIND,):
            raise ConfigError(f"Unknown model type {self.kind!r}: choose one of {', '.join(MODEL_KINDS)}.")
        check_image_shape(self.image_size, self.channels)
        for name, value in (("Latent size", self.latent_dim), ("Hidden width", self.hidden)):
            fields.integer_value(value, name)
        low, high = LATENT_RANGE
        if not low <= self.latent_dim <= high:
            raise ConfigError(f"Latent size {self.latent_dim} is out of range: choose {low} to {high}.")
        low, high = HIDDEN_RANGE
        if not low <= self.hidden <= high:
            raise ConfigError(f"Hidden width {self.hidden} is out of range: choose {low} to {high}.")
        return self

    @property
    def pixels(self) -> int:
        """Values per image: H * W * C."""
        return self.image_size * self.image_size * self.channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image's array shape: (H, W) for grayscale, (H, W, 3) for colour."""
        side = self.image_size
        return (side, side) if self.channels == 1 else (side, side, self.channels)

    def for_images(self, image_size: int, channels: int) -> "ModelConfig":
        """This configuration for images of that size and channel count, an "auto" kind resolved."""
        return replace(self, kind=resolve_kind(self.kind, image_size), image_size=int(image_size),
                       channels=int(channels))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """The configuration in `values` (parsed JSON), checked by type and range (`ConfigError` if wrong).

        Files written before image sizes were recorded hold 28x28 grayscale models.
        """
        values = fields.as_mapping(values, "the model configuration")
        return cls(kind=fields.text(values, "kind", max_length=64), latent_dim=fields.integer(values, "latent_dim"),
                   hidden=fields.integer(values, "hidden"),
                   image_size=fields.integer(values, "image_size", default=IMAGE_SIZE),
                   channels=fields.integer(values, "channels", default=1)).validate()


def check_image_shape(image_size: int, channels: int) -> None:
    """The image sizes and channel counts the networks are built for; anything else is a ConfigError."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size not in IMAGE_SIZES:
        raise ConfigError(f"Image size {image_size!r} is not supported: choose "
                          f"{', '.join(map(str, IMAGE_SIZES))} (pixels a side).")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels not in CHANNEL_COUNTS:
        raise ConfigError(f"Channels {channels!r} is not supported: choose 1 (grayscale) or 3 (colour).")


def resolve_kind(kind: str, image_size: int) -> str:
    """"auto": the founding MLP for images up to 28x28, the convolutional network for larger ones."""
    if kind != AUTO_KIND:
        return kind
    return "mlp" if image_size <= IMAGE_SIZE else "conv"


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
        """Bernoulli logits of shape (N, H * W * C)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means in [0, 1] of shape (N, H * W * C)."""
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
        if torch.is_autocast_enabled(mu.device.type):  # a bfloat16 step: the noise is drawn, and z formed, in float32
            mu, logvar = mu.float(), logvar.float()
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z), mu, logvar


class MLPVAE(VAE):
    """The founding network of the PyTorch example: 784 -> hidden -> (mu, logvar) -> hidden -> 784
    (H * W * C values in and out for other image shapes)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder_hidden = nn.Linear(config.pixels, config.hidden)
        self.encoder_mu = nn.Linear(config.hidden, config.latent_dim)
        self.encoder_logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder_hidden = nn.Linear(config.latent_dim, config.hidden)
        self.decoder_out = nn.Linear(config.hidden, config.pixels)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.encoder_hidden(x.reshape(-1, self.config.pixels)))
        return self.encoder_mu(h), self.encoder_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(torch.relu(self.decoder_hidden(z)))


CONV_WIDTHS = (32, 64, 128, 256)  # the channels of the successive stride-2 blocks


def conv_feature_sides(image_size: int) -> list[int]:
    """The side after each stride-2 block: halved while it stays even and above 4 (28 -> 14 -> 7, 64 -> ... -> 4)."""
    sides, side = [], image_size
    while side % 2 == 0 and side > 4 and len(sides) < len(CONV_WIDTHS):
        side //= 2
        sides.append(side)
    return sides


class ConvVAE(VAE):
    """Stride-2 convolutions down to a small grid (7x7 from 28, 4x4 from 32 and 64), mirrored up again.

    At 28x28 grayscale it is the network earlier versions built, so their files open unchanged.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        depth = len(conv_feature_sides(config.image_size))
        side = conv_feature_sides(config.image_size)[-1]
        widths = CONV_WIDTHS[:depth]
        flat = widths[-1] * side * side
        down: list[nn.Module] = []
        for inputs, outputs in zip((config.channels,) + widths[:-1], widths):
            down += [nn.Conv2d(inputs, outputs, 4, stride=2, padding=1), nn.ReLU()]
        self.encoder_features = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, config.hidden), nn.ReLU())
        self.encoder_mu = nn.Linear(config.hidden, config.latent_dim)
        self.encoder_logvar = nn.Linear(config.hidden, config.latent_dim)
        up: list[nn.Module] = []
        for inputs, outputs in zip(widths[::-1], widths[-2::-1] + (config.channels,)):
            up += [nn.ConvTranspose2d(inputs, outputs, 4, stride=2, padding=1), nn.ReLU()]
        self.decoder_features = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, flat), nn.ReLU(),
            nn.Unflatten(1, (widths[-1], side, side)),
            *up[:-1],  # no ReLU after the last block: it gives logits
        )
        if config.channels > 1:
            # Channels-last weights for colour: the pixels arrive channels-last, and the CPU's convolutions of
            # three-channel images run faster in that layout (benchmarks/train_speed_conv.py; grayscale ones
            # run slower). Saved files hold plain contiguous tensors either way.
            self.to(memory_format=torch.channels_last)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        side, channels = self.config.image_size, self.config.channels
        # pixels arrive as pictures are laid out, (H, W, C): a channels-last view, no copy
        images = x.reshape(-1, side, side, channels).permute(0, 3, 1, 2)
        h = self.encoder_features(images)
        return self.encoder_mu(h), self.encoder_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.decoder_features(z)
        if self.config.channels > 1:
            logits = logits.permute(0, 2, 3, 1)
        return logits.reshape(len(z), -1)


def build_model(config: ModelConfig) -> VAE:
    """A freshly initialised network for `config` (an "auto" kind resolved for its image size)."""
    config = config.validate().for_images(config.image_size, config.channels)
    return MLPVAE(config) if config.kind == "mlp" else ConvVAE(config)
