"""Training throughput: our trainer against the PyTorch example's loop, in one run.

The reference is written as `vae/main.py` does it: a DataLoader over torchvision's MNIST
with `ToTensor`, the same 784-400-20 network, batch 128, Adam 1e-3, summed BCE + KL. Both
run the same number of steps, interleaved in rounds (this machine is shared and noisy); the
best round of each counts. Our GFLOP/s is compared with the best float32 matmul rate the
machine reaches in the same run. Forward + backward of the founding MLP costs 3.28 MFLOP
per image.

    python benchmarks/train_speed.py [--steps 300] [--rounds 7] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import data_dir, result_line, trainer_rate
from torch import nn

from vaestudio.core.data.datasets import load_dataset
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import Trainer

MFLOP_PER_IMAGE = 3.28


class ReferenceVAE(nn.Module):
    """The PyTorch example's network, line for line."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def reference_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def reference_round(root: str, steps: int, device: torch.device) -> float:
    from torchvision import datasets, transforms
    loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor()),
        batch_size=128, shuffle=True)
    model = ReferenceVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    images, started = 0, time.perf_counter()
    for step, (data, _) in enumerate(loader):
        if step == steps:
            break
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = reference_loss(recon_batch, data, mu, logvar)
        loss.backward()
        loss.item()
        optimizer.step()
        images += len(data)
    return images / (time.perf_counter() - started)


def our_round(data, steps: int, device: str) -> float:
    trainer = Trainer(TrainingConfig(model=ModelConfig("mlp", 20, 400), epochs=1, device=device), data)
    return trainer_rate(trainer, steps)


def matmul_peak_gflops(seconds: float = 1.5) -> float:
    best = 0.0
    for size in (1024, 2048):
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        deadline = time.perf_counter() + seconds / 2
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            a @ b
            best = max(best, 2 * size ** 3 / (time.perf_counter() - started) / 1e9)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    root = data_dir()
    data = load_dataset("mnist", data_dir=root, download=False)
    device = torch.device("cuda" if args.device.startswith("cuda") else args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{args.steps} steps x {args.rounds} rounds")
    ours, reference, peaks = [], [], []
    for round_index in range(args.rounds):
        peaks.append(matmul_peak_gflops())
        reference.append(reference_round(root, args.steps, device))
        ours.append(our_round(data, args.steps, args.device))
        print(f"round {round_index + 1}: reference {reference[-1]:8,.0f} img/s   ours {ours[-1]:8,.0f} img/s   "
              f"matmul peak {peaks[-1]:6.1f} GFLOP/s")
    best_ours, best_reference, peak = max(ours), max(reference), max(peaks)
    gflops = best_ours * MFLOP_PER_IMAGE / 1000
    print(f"best: reference {best_reference:,.0f} img/s, ours {best_ours:,.0f} img/s "
          f"({best_ours / best_reference:.2f}x); ours {gflops:.1f} GFLOP/s = {gflops / peak:.2f} of the "
          f"{peak:.1f} GFLOP/s float32 matmul peak")
    print(result_line(speedup_vs_reference=best_ours / best_reference, ours_samples_per_s=best_ours,
                      reference_samples_per_s=best_reference, peak_fraction=gflops / peak,
                      ours_gflops=gflops, peak_gflops=peak))


if __name__ == "__main__":
    main()
