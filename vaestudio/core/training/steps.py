"""How one optimisation step is computed: a strategy chosen once when a trainer is built.

`AutogradStep` works for every network: autograd's backward pass and torch's (fused) Adam.
`FusedMLPStep` is an optimisation for the founding MLP in float32: its gradient written out by
hand (mlp_step.py) and one Adam update of all parameters packed into one tensor (flat_adam.py),
the same values within float tolerance at about a third less CPU time. `AutogradStep` runs its
forward pass in the run's precision (precision.py): under bfloat16 autocast the loss is still
computed from float32 copies of the outputs, and the weights and Adam's state stay float32.
A step is split in two: `compute` returns the batch's loss sums (so the trainer can check them
for NaN before any weight changes) and `update` applies the gradient.
"""

from __future__ import annotations

import torch

from vaestudio.core.models.networks import IMAGE_SIZE, MLPVAE, VAE
from vaestudio.core.training.flat_adam import FlatAdam
from vaestudio.core.training.mlp_step import MLPTrainingStep
from vaestudio.core.training.objectives import LossTerms, negative_elbo
from vaestudio.core.training.precision import FLOAT32, forward_context

STEP_NAMES = ("autograd", "fused-mlp")


def make_optimizer(model: VAE, lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch and device support it (a third of the CPU step time
    of the founding MLP at batch 128 goes to a for-loop Adam otherwise); the plain one elsewhere."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


class AutogradStep:
    """Forward pass (in `precision`: "float32" or "bfloat16"), autograd backward pass, Adam."""

    name = "autograd"

    def __init__(self, model: VAE, lr: float, precision: str = FLOAT32) -> None:
        self.model = model
        self.precision = precision
        self.optimizer: torch.optim.Adam = make_optimizer(model, lr)
        self._terms: LossTerms | None = None
        self._device = next(model.parameters()).device

    def compute(self, x: torch.Tensor, beta: float, generator: torch.Generator) -> list[float]:
        with forward_context(self.precision, self._device):
            logits, mu, logvar = self.model(x, generator)
        self._terms = negative_elbo(logits.float(), x, mu.float(), logvar.float(), beta)
        return torch.stack([self._terms.loss, self._terms.reconstruction, self._terms.kl]).tolist()

    def update(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._terms.loss.backward()
        self._terms = None
        self.optimizer.step()


class FusedMLPStep:
    """The founding MLP's hand-written gradient and one flat Adam update."""

    name = "fused-mlp"
    precision = FLOAT32

    def __init__(self, model: MLPVAE, lr: float) -> None:
        self.optimizer: torch.optim.Adam = FlatAdam(model.parameters(), lr)
        self._gradient = MLPTrainingStep(model)

    @staticmethod
    def applies_to(model: VAE) -> bool:
        """The founding MLP only: 28x28 grayscale, float32 (other shapes train with autograd)."""
        return (isinstance(model, MLPVAE) and (model.config.image_size, model.config.channels) == (IMAGE_SIZE, 1)
                and all(p.dtype == torch.float32 for p in model.parameters()))

    def compute(self, x: torch.Tensor, beta: float, generator: torch.Generator) -> list[float]:
        self.optimizer.check_parameters_bound()
        return self._gradient(x, beta, generator).tolist()

    def update(self) -> None:
        self.optimizer.step()


def choose_step(model: VAE, lr: float, *, fused: bool = True,
                precision: str = FLOAT32) -> AutogradStep | FusedMLPStep:
    """The fused MLP step where it applies and is allowed (float32 only), autograd in `precision` otherwise."""
    if fused and precision == FLOAT32 and FusedMLPStep.applies_to(model):
        return FusedMLPStep(model, lr)
    return AutogradStep(model, lr, precision)
