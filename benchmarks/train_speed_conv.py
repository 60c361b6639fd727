"""The conv VAE at 64x64 colour on the shapes dataset: our trainer against a plain PyTorch loop, and memory.

Speed: the reference is written the plain PyTorch way: a Dataset whose items are converted
one at a time as torchvision's `ToTensor` does (uint8 HWC -> float CHW in [0, 1]), a
shuffling DataLoader, the same network (our ConvVAE for 64x64x3, latent 20, hidden 400,
weights in PyTorch's default layout), batch 128, Adam 1e-3, summed BCE of sigmoid outputs +
KL, autograd, float32. Ours runs with the default settings, as a person gets them: precision
"auto", which is bfloat16 autocast for this network on a CPU or GPU with fast native bfloat16
(core/training/precision.py) and float32 elsewhere; the precision it ran in is printed. Both
run the same number of steps on the same images, interleaved in rounds (this machine is
shared and noisy); the best round of each counts.

Memory: a child process builds a 50,000-image 64x64 colour shapes set (uint8, 614 MB) and
trains on it for a few steps; its peak resident memory is reported beside the data's own
size, and what is left over (torch itself, the network, one batch's activations).

    python benchmarks/train_speed_conv.py [--steps 15] [--rounds 3] [--images 2000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import result_line, trainer_rate

from vaestudio.core.data import shapes
from vaestudio.core.data.datasets import DatasetSplits, ImageDataset
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.trainer import Trainer

SIZE, CHANNELS, BATCH = 64, 3, 128
CONFIG = ModelConfig("conv", 20, 400, image_size=SIZE, channels=CHANNELS)
MEMORY_IMAGES = 50_000


def shapes_splits(count: int, seed: int = 0) -> DatasetSplits:
    """`count` training and count // 10 test shapes, drawn in memory (uint8 only)."""
    factors = shapes.draw_factors(count + count // 10, seed)
    images = np.empty((len(factors), SIZE, SIZE, CHANNELS), np.uint8)
    for start in range(0, len(factors), 5000):  # render_shapes fills it a chunk at a time
        images[start:start + 5000] = shapes.render_shapes(factors[start:start + 5000], SIZE)
    labels = torch.from_numpy(factors[:, 0].astype(np.int64))
    tensor = torch.from_numpy(images)
    names = list(shapes.SHAPE_NAMES)
    return DatasetSplits(ImageDataset("shapes", "train", tensor[:count], labels[:count], names),
                         ImageDataset("shapes", "test", tensor[count:], labels[count:], names))


class ToTensorImages(torch.utils.data.Dataset):
    """Items converted one at a time, as torchvision's ToTensor converts a picture."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.images[index]).permute(2, 0, 1).contiguous().float().div(255)


def reference_round(images: torch.Tensor, steps: int, device: torch.device) -> float:
    loader = torch.utils.data.DataLoader(ToTensorImages(images), batch_size=BATCH, shuffle=True)
    torch.manual_seed(1)
    model = build_model(CONFIG).to(device, memory_format=torch.contiguous_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    count, started = 0, time.perf_counter()
    for step, data in enumerate(loader):
        if step == steps:
            break
        data = data.to(device)
        optimizer.zero_grad()
        h = model.encoder_features(data)
        mu, logvar = model.encoder_mu(h), model.encoder_logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = torch.sigmoid(model.decoder_features(z))
        loss = F.binary_cross_entropy(recon, data, reduction="sum") - 0.5 * torch.sum(
            1 + logvar - mu.pow(2) - logvar.exp())
        loss.backward()
        loss.item()
        optimizer.step()
        count += len(data)
    return count / (time.perf_counter() - started)


def our_round(data: DatasetSplits, steps: int, device: str) -> tuple[float, str]:
    """Images a second over `steps` steps with the default settings, and the precision they ran in."""
    trainer = Trainer(TrainingConfig(dataset="shapes", model=CONFIG, epochs=1, batch_size=BATCH, device=device), data)
    return trainer_rate(trainer, steps), trainer.config.precision


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def memory_child(steps: int, device: str) -> None:
    """Train on 50,000 images for a few steps; print the figures as JSON."""
    torch.ones(1) + 1  # torch's own start-up allocations belong to the baseline
    before = current_rss_mb()
    data = shapes_splits(MEMORY_IMAGES)
    data_mb = (data.train.images.numel() + data.test.images.numel()) / 2**20
    our_round(data, steps, device)
    print(json.dumps({"data_mb": data_mb, "peak_mb": peak_rss_mb(), "start_mb": before}))


def measure_memory(steps: int, device: str) -> dict:
    command = [sys.executable, __file__, "--memory-child", "--steps", str(steps), "--device", device]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000, help="training images of the speed rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.steps, args.device)
        return
    device = torch.device("cuda" if args.device.startswith("cuda") else args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{args.steps} steps x {args.rounds} rounds, batch {BATCH}, {SIZE}x{SIZE}x{CHANNELS}")
    data = shapes_splits(args.images)
    ours, reference = [], []
    for round_index in range(args.rounds):
        reference.append(reference_round(data.train.images, args.steps, device))
        rate, precision = our_round(data, args.steps, args.device)
        ours.append(rate)
        print(f"round {round_index + 1}: reference {reference[-1]:7,.1f} img/s (float32)   "
              f"ours {ours[-1]:7,.1f} img/s ({precision}, precision auto)")
    memory = measure_memory(min(args.steps, 5), args.device)
    overhead = memory["peak_mb"] - memory["data_mb"]
    best_ours, best_reference = max(ours), max(reference)
    print(f"best: reference {best_reference:,.1f} img/s (float32), ours {best_ours:,.1f} img/s ({precision}) "
          f"({best_ours / best_reference:.2f}x)")
    training = memory["peak_mb"] - memory["start_mb"] - memory["data_mb"]
    print(f"memory: {MEMORY_IMAGES:,} + {MEMORY_IMAGES // 10:,} images of {SIZE}x{SIZE}x{CHANNELS} uint8 = "
          f"{memory['data_mb']:,.0f} MB; peak resident {memory['peak_mb']:,.0f} MB while training: the data, "
          f"{memory['start_mb']:,.0f} MB resident once torch and VAE Studio are imported, and {training:,.0f} MB "
          "for drawing the shapes and training (network, optimiser, one batch's activations)")
    print(result_line(speedup_vs_reference=best_ours / best_reference, ours_samples_per_s=best_ours,
                      reference_samples_per_s=best_reference, peak_memory_mb=memory["peak_mb"],
                      data_mb=memory["data_mb"], memory_beyond_data_mb=overhead, imported_mb=memory["start_mb"]))


if __name__ == "__main__":
    main()
