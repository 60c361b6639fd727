"""The founding MLP's training step with its gradient written out by hand.

Autograd records about thirty nodes for this small network and replays them in its own
engine; on a CPU at batch 128 that bookkeeping costs about a quarter of the step. Here the
forward pass and the gradient of the negative ELBO are a straight list of matrix products
and elementwise operations that write into buffers kept from step to step, and the gradients
land directly in each parameter's `.grad` for the optimiser. The result is the same as
`negative_elbo(...).backward()` (a test compares them), including the random draw of the
reparameterisation, so a run takes the same path either way.

With the network  h1 = relu(W1 x + b1),  (mu, logvar) = (Wm h1 + bm, Wv h1 + bv),
z = mu + exp(logvar / 2) * eps,  h3 = relu(W3 z + b3),  l = W4 h3 + b4  and the loss
sum(BCE-with-logits(l, x)) + beta * KL, the gradients are
  dl = sigmoid(l) - x
  dh3 = (dl W4) * [h3 > 0]
  dz = dh3 W3
  dmu = dz + beta * mu
  dlogvar = dz * eps * std / 2 + beta * (exp(logvar) - 1) / 2
  dh1 = (dmu Wm + dlogvar Wv) * [h1 > 0]
and each weight's gradient is the outer product of its layer's output gradient with its input.
"""

from __future__ import annotations

import torch

from vaestudio.core.models.networks import MLPVAE, standard_normal_like


def _relu_backward(grad: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """grad where the ReLU's output is positive, else 0: one kernel (a bool mask and a multiply are six times
    slower on the CPU)."""
    return torch.ops.aten.threshold_backward(grad, activation, 0.0)


class MLPTrainingStep:
    """Computes the loss terms of a batch and fills every parameter's `.grad` of an `MLPVAE`."""

    def __init__(self, model: MLPVAE) -> None:
        self.model = model
        for parameter in model.parameters():
            if parameter.grad is None:  # keep existing gradient tensors: FlatAdam's are views of its flat one
                parameter.grad = torch.zeros_like(parameter)
        self._buffers: dict[str, torch.Tensor] = {}

    def _buffer(self, name: str, rows: int, columns: int, like: torch.Tensor) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if (buffer is None or buffer.shape != (rows, columns) or buffer.device != like.device
                or buffer.dtype != like.dtype):
            buffer = self._buffers[name] = torch.empty(rows, columns, dtype=like.dtype, device=like.device)
        return buffer

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, beta: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Batch sums (loss, reconstruction, KL) as one tensor; the gradients are left in `.grad`."""
        model = self.model
        encoder, mu_layer, logvar_layer = model.encoder_hidden, model.encoder_mu, model.encoder_logvar
        decoder, output = model.decoder_hidden, model.decoder_out
        for parameter in model.parameters():
            if parameter.grad is None:  # after model.zero_grad(); FlatAdam.step copies such a new tensor back
                parameter.grad = torch.zeros_like(parameter)
        pixels = model.config.pixels
        x = x.reshape(-1, pixels)
        rows, hidden, latent = len(x), encoder.out_features, mu_layer.out_features

        h1 = torch.addmm(encoder.bias, x, encoder.weight.t(), out=self._buffer("h1", rows, hidden, x)).relu_()
        mu = torch.addmm(mu_layer.bias, h1, mu_layer.weight.t(), out=self._buffer("mu", rows, latent, x))
        logvar = torch.addmm(logvar_layer.bias, h1, logvar_layer.weight.t(),
                             out=self._buffer("logvar", rows, latent, x))
        std = torch.exp(0.5 * logvar)
        eps = standard_normal_like(std, generator)
        z = torch.addcmul(mu, std, eps)
        h3 = torch.addmm(decoder.bias, z, decoder.weight.t(), out=self._buffer("h3", rows, hidden, x)).relu_()
        logits = torch.addmm(output.bias, h3, output.weight.t(), out=self._buffer("logits", rows, pixels, x))

        # BCE(l, x) = softplus(l) - l x, and softplus(l) = max(l, 0) + log(1 + exp(-|l|)) = max(l, 0) - log(c)
        # with c = max(s, 1 - s), s = sigmoid(l): the sigmoid the gradient needs anyway replaces an exp
        probabilities = torch.sigmoid(logits)
        confidence = torch.maximum(probabilities, 1.0 - probabilities).log_()
        # summed per pixel, not as three large sums that cancel: the reported loss keeps float32's precision
        reconstruction = logits.relu().sub_(confidence).addcmul_(logits, x, value=-1.0).sum()
        variance = std * std
        kl = 0.5 * mu.square().add_(variance).sub_(logvar).sub_(1.0).sum()
        terms = torch.stack([reconstruction + beta * kl, reconstruction, kl])

        d_logits = probabilities.sub_(x)
        torch.mm(d_logits.t(), h3, out=output.weight.grad)
        torch.sum(d_logits, 0, out=output.bias.grad)
        d_h3 = _relu_backward(torch.mm(d_logits, output.weight), h3)
        torch.mm(d_h3.t(), z, out=decoder.weight.grad)
        torch.sum(d_h3, 0, out=decoder.bias.grad)
        d_z = torch.mm(d_h3, decoder.weight)
        d_mu = torch.add(d_z, mu, alpha=beta)
        d_logvar = d_z.mul_(eps).mul_(std).add_(variance, alpha=beta).sub_(beta).mul_(0.5)
        torch.mm(d_mu.t(), h1, out=mu_layer.weight.grad)
        torch.sum(d_mu, 0, out=mu_layer.bias.grad)
        torch.mm(d_logvar.t(), h1, out=logvar_layer.weight.grad)
        torch.sum(d_logvar, 0, out=logvar_layer.bias.grad)
        d_h1 = _relu_backward(torch.mm(d_mu, mu_layer.weight).addmm_(d_logvar, logvar_layer.weight), h1)
        torch.mm(d_h1.t(), x, out=encoder.weight.grad)
        torch.sum(d_h1, 0, out=encoder.bias.grad)
        return terms
