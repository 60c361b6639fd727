"""What a run records: each step's losses, each epoch's results and test evaluation.

Plain data, saved with the model (see model_files.py) and shown by the window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


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
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}
        return cls(**known)


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
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values and key != "test"}
        return cls(test=EvaluationResult.from_dict(values["test"]), **known)


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
