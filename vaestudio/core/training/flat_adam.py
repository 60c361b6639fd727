"""Adam over one flat tensor that holds all of a model's parameters.

A small network's optimiser step is mostly overhead per tensor: torch's Adam walks its
parameters in Python and the fused kernel handles each tensor separately. Here the
parameters and their gradients become views into one flat tensor each, so a step is one
fused update of one tensor (about half the time on a CPU for the founding MLP's ten
tensors). The model keeps working as before: its parameters are still separate
`nn.Parameter`s, only their storage is shared.

`state_dict()` and `load_state_dict()` use the ordinary per-parameter layout of
`torch.optim.Adam`, so model files stay the same whichever optimiser wrote them.
"""

from __future__ import annotations

import torch
from torch import nn

from vaestudio.core.errors import TrainingError

# Adam's state tensors with one value per parameter element (the rest, "step", is shared)
PER_ELEMENT_STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class FlatAdam(torch.optim.Adam):
    """Adam (fused where torch supports it) over `parameters` packed into one tensor.

    Gradients are meant to be written into the parameters' `.grad` tensors, which are views
    of one flat gradient. A gradient replaced by another tensor (after `model.zero_grad()`,
    say) is copied back into its view at the next `step()`, so the update is always right;
    `zero_grad()` zeroes the flat gradient in place and keeps the views.
    """

    def __init__(self, parameters, lr: float) -> None:
        self._parameters = [parameter for parameter in parameters]
        if not self._parameters:
            raise ValueError("FlatAdam needs at least one parameter")
        flat = torch.cat([parameter.detach().reshape(-1) for parameter in self._parameters])
        flat_grad = torch.zeros_like(flat)
        self._slices: list[tuple[int, int]] = []
        self._grad_views: list[torch.Tensor] = []
        offset = 0
        for parameter in self._parameters:
            size = parameter.numel()
            parameter.data = flat[offset:offset + size].view_as(parameter)
            self._grad_views.append(flat_grad[offset:offset + size].view_as(parameter))
            parameter.grad = self._grad_views[-1]
            self._slices.append((offset, size))
            offset += size
        self.flat = nn.Parameter(flat)  # shares flat's storage, and so every parameter's
        self._flat_grad = self.flat.grad = flat_grad
        try:
            super().__init__([self.flat], lr=lr, fused=True)
        except (RuntimeError, TypeError):
            super().__init__([self.flat], lr=lr)

    @torch.no_grad()
    def step(self, closure=None):
        self.check_parameters_bound()
        for parameter, view in zip(self._parameters, self._grad_views):
            grad = parameter.grad
            if grad is not None and grad.data_ptr() == view.data_ptr():
                continue
            if grad is None:
                view.zero_()
            else:  # replaced (autograd after model.zero_grad(), say): bring it back into the flat gradient
                view.copy_(grad)
            parameter.grad = view
        self.flat.grad = self._flat_grad
        return super().step(closure)

    def check_parameters_bound(self) -> None:
        """Raise if a parameter no longer lives in the flat tensor: `model.to(...)`, `load_state_dict` with
        `assign=True` or `parameter.data = ...` rebind storage, and the update would silently miss it."""
        base, width = self.flat.data_ptr(), self.flat.element_size()
        for parameter, (offset, _size) in zip(self._parameters, self._slices):
            if parameter.dtype != self.flat.dtype or parameter.data_ptr() != base + offset * width:
                raise TrainingError(
                    "The network's parameters were moved or replaced after its optimiser was built (for example "
                    "by model.to(...)), so the fused Adam update would no longer reach them. Build the trainer "
                    "again after changing the model, or train with the autograd step (--no-fused-step).")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient in place, whatever `set_to_none` says: the views must stay."""
        for parameter, view in zip(self._parameters, self._grad_views):
            parameter.grad = view
        self.flat.grad = self._flat_grad
        self._flat_grad.zero_()

    def state_dict(self) -> dict:
        packed = super().state_dict()
        group = dict(packed["param_groups"][0], params=list(range(len(self._parameters))))
        state = {}
        if 0 in packed["state"]:
            flat_state = packed["state"][0]
            for index, (parameter, (offset, size)) in enumerate(zip(self._parameters, self._slices)):
                state[index] = {key: (value[offset:offset + size].view_as(parameter).clone()
                                      if key in PER_ELEMENT_STATE else value.clone())
                                for key, value in flat_state.items()}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self._parameters):
            raise ValueError("The optimiser state was saved for a different network.")
        ids = groups[0]["params"]
        per_parameter = [state_dict["state"].get(index) for index in ids]
        state = {}
        if all(entry is not None for entry in per_parameter):
            first = per_parameter[0]
            state[0] = {key: (torch.cat([entry[key].reshape(-1) for entry in per_parameter])
                              if key in PER_ELEMENT_STATE else first[key])
                        for key in first}
            for entry, parameter in zip(per_parameter, self._parameters):
                for key in PER_ELEMENT_STATE:
                    if key in entry and entry[key].shape != parameter.shape:
                        raise ValueError("The optimiser state was saved for a different network.")
        elif any(entry is not None for entry in per_parameter):
            raise ValueError("The optimiser state covers only some of the network's parameters.")
        super().load_state_dict({"state": state, "param_groups": [dict(groups[0], params=[0])]})
