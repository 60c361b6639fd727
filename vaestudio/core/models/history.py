"""What a run records: each step's losses, each epoch's results and test evaluation.

Plain data, saved with the model (see model_files.py) and shown by the window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from vaestudio.core.models import fields

MAX_LIST = 1_000_000  # entries of a list read from a file (per-dimension KL, epochs)
MAX_IWAE_SAMPLES = 10_000  # K of the importance-weighted bound: the CLI's limit and a file's


@dataclass
class EvaluationResult:
    """Per-image means over a dataset, in nats."""

    loss: float
    reconstruction: float
    kl: float
    kl_per_dim: list[float] = field(default_factory=list)
    active_units: int = 0
    iwae: float | None = None
    iwae_samples: int = 0
    images: int = 0
    dimensions: int = 0  # values per image (H * W * C); 0 in files written before it was recorded

    @property
    def bits_per_dim(self) -> float | None:
        """The loss in bits per value: nats / (ln 2 * H * W * C), the usual figure for colour images."""
        return self.loss / (math.log(2) * self.dimensions) if self.dimensions > 0 else None

    def to_dict(self) -> dict:
        return {**asdict(self), "bits_per_dim": self.bits_per_dim}

    @classmethod
    def from_dict(cls, values: dict) -> "EvaluationResult":
        """The result in `values` (parsed JSON), checked by type (`ConfigError` if wrong).

        Losses may be infinite (a bad model's honest score); counts are whole and not negative.
        """
        values = fields.as_mapping(values, "a test result")
        return cls(loss=fields.number(values, "loss", finite=False),
                   reconstruction=fields.number(values, "reconstruction", finite=False),
                   kl=fields.number(values, "kl", finite=False),
                   kl_per_dim=fields.number_list(values, "kl_per_dim", MAX_LIST, default=[]),
                   active_units=fields.integer(values, "active_units", 0, MAX_LIST, default=0),
                   iwae=fields.optional_number(values, "iwae", finite=False),
                   iwae_samples=fields.integer(values, "iwae_samples", 0, MAX_IWAE_SAMPLES, default=0),
                   images=fields.integer(values, "images", 0, 2**40, default=0))


@dataclass
class StepProgress:
    """One optimisation step; losses are per-image means of the batch, in nats."""

    epoch: int
    step: int
    batch: int
    batches: int
    loss: float
    reconstruction: float
    kl: float
    beta: float
    samples_per_second: float


@dataclass
class EpochResult:
    """The end of an epoch: training means, the test evaluation and timing."""

    epoch: int
    epochs: int
    train_loss: float
    train_reconstruction: float
    train_kl: float
    test: EvaluationResult
    seconds: float
    samples_per_second: float

    def to_dict(self) -> dict:
        values = asdict(self)
        values["test"] = self.test.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "EpochResult":
        """The epoch in `values` (parsed JSON), checked by type and range (`ConfigError` if wrong)."""
        values = fields.as_mapping(values, "an epoch result")
        return cls(epoch=fields.integer(values, "epoch", 1, MAX_LIST), epochs=fields.integer(values, "epochs", 1, MAX_LIST),
                   train_loss=fields.number(values, "train_loss", finite=False),
                   train_reconstruction=fields.number(values, "train_reconstruction", finite=False),
                   train_kl=fields.number(values, "train_kl", finite=False),
                   test=EvaluationResult.from_dict(fields.as_mapping(values.get("test"), "test")),
                   seconds=fields.number(values, "seconds", 0.0, default=0.0),
                   samples_per_second=fields.number(values, "samples_per_second", 0.0, finite=False, default=0.0))


@dataclass
class TrainingHistory:
    """Per-step losses (for the live plot) and per-epoch results, saved with the model."""

    step_loss: list[float] = field(default_factory=list)
    step_reconstruction: list[float] = field(default_factory=list)
    step_kl: list[float] = field(default_factory=list)
    epochs: list[EpochResult] = field(default_factory=list)

    def record_step(self, progress: StepProgress) -> None:
        self.step_loss.append(progress.loss)
        self.step_reconstruction.append(progress.reconstruction)
        self.step_kl.append(progress.kl)
