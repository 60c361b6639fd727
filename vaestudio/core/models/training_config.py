"""The settings of a training run, saved into each model file and checked on every path that takes them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from vaestudio.core.data.image_shape import check_request
from vaestudio.core.errors import ConfigError
from vaestudio.core.models import fields
from vaestudio.core.models.networks import ModelConfig

PIXEL_MODES = ("continuous", "binarized")
# The arithmetic of the training step's forward pass (core/training/precision.py decides what "auto" means);
# weights, Adam's state, the loss and the test figures stay float32 whatever is chosen.
PRECISIONS = ("auto", "float32", "bfloat16")
# The allowed values, ends included (the learning rate excludes 0); the Run form takes its limits from here.
EPOCH_RANGE = (1, 100_000)
BATCH_SIZE_RANGE = (1, 65_536)
LR_RANGE = (0.0, 1.0)
BETA_RANGE = (0.0, 1000.0)
SEED_RANGE = (0, 2**31 - 1)
KL_WARMUP_RANGE = (0.0, float(EPOCH_RANGE[1]))


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides a training run; saved into the model file."""

    dataset: str = "mnist"
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    kl_warmup_epochs: float = 0.0
    pixels: str = "continuous"
    seed: int = 1
    device: str = "auto"
    fused_step: bool = True  # the founding MLP's hand-written step where it applies (steps.py); off: autograd
    image_size: int | None = None  # the size asked of the data (28, 32, 64); None: what the data has
    channels: int | None = None    # 1 or 3 asked of the data; None: what the data has
    precision: str = "auto"  # "auto", "float32" or "bfloat16": the forward pass's arithmetic (precision.py)

    def validate(self) -> "TrainingConfig":
        self.model.validate()
        for name, value in (("Epochs", self.epochs), ("Batch size", self.batch_size), ("The seed", self.seed),
                            ("Image size", self.image_size), ("Channels", self.channels)):
            if value is not None or name in ("Epochs", "Batch size", "The seed"):
                fields.integer_value(value, name)
        check_request(self.image_size, self.channels)
        for name, value in (("Learning rate", self.lr), ("Beta", self.beta), ("KL warm-up", self.kl_warmup_epochs)):
            fields.number_value(value, name, finite=False)
        for name, value in (("The dataset", self.dataset), ("The device", self.device)):
            fields.text_value(value, name)
        if not EPOCH_RANGE[0] <= self.epochs <= EPOCH_RANGE[1]:
            raise ConfigError(f"Epochs must be {EPOCH_RANGE[0]} or more and at most {EPOCH_RANGE[1]} "
                              f"(got {self.epochs}).")
        if not BATCH_SIZE_RANGE[0] <= self.batch_size <= BATCH_SIZE_RANGE[1]:
            raise ConfigError(f"Batch size must be between {BATCH_SIZE_RANGE[0]} and {BATCH_SIZE_RANGE[1]} "
                              f"(got {self.batch_size}).")
        if not (math.isfinite(self.lr) and LR_RANGE[0] < self.lr <= LR_RANGE[1]):
            raise ConfigError(f"Learning rate must be above {LR_RANGE[0]:g} and at most {LR_RANGE[1]:g} "
                              f"(got {self.lr}).")
        if not (math.isfinite(self.beta) and BETA_RANGE[0] <= self.beta <= BETA_RANGE[1]):
            raise ConfigError(f"Beta (the KL weight) must be between {BETA_RANGE[0]:g} and {BETA_RANGE[1]:g} "
                              f"(got {self.beta}).")
        if not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise ConfigError(f"The seed must be between {SEED_RANGE[0]} and {SEED_RANGE[1]} (got {self.seed}).")
        if not (math.isfinite(self.kl_warmup_epochs)
                and KL_WARMUP_RANGE[0] <= self.kl_warmup_epochs <= KL_WARMUP_RANGE[1]):
            raise ConfigError(f"KL warm-up must be between {KL_WARMUP_RANGE[0]:g} and {KL_WARMUP_RANGE[1]:g} epochs "
                              f"(got {self.kl_warmup_epochs}).")
        if not isinstance(self.pixels, str) or self.pixels not in PIXEL_MODES:
            raise ConfigError(f"Unknown pixel mode {self.pixels!r}: choose {' or '.join(PIXEL_MODES)}.")
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:
            raise ConfigError(f"Unknown precision {str(self.precision)[:40]!r}: choose {', '.join(PRECISIONS[:-1])} "
                              f"or {PRECISIONS[-1]} (auto: bfloat16 where it is faster, float32 elsewhere).")
        if not isinstance(self.fused_step, bool):
            raise ConfigError(f"The fused-step setting must be true or false (got {self.fused_step!r}).")
        return self

    def for_data(self, image_size: int, channels: int) -> "TrainingConfig":
        """This configuration with its network built for the data's image size and channels."""
        return replace(self, model=self.model.for_images(image_size, channels)).validate()

    def to_dict(self) -> dict:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        """The settings in `values` (parsed JSON), checked by type and range (`ConfigError` if wrong).

        Fields a file does not have take their defaults; unknown fields are ignored.
        """
        values = fields.as_mapping(values, "the training settings")
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values and key != "model"}
        return cls(model=ModelConfig.from_dict(fields.as_mapping(values.get("model"), "model")), **known).validate()
