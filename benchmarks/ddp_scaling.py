"""Training throughput on 1, 2, … processes (DistributedDataParallel), as a person runs it.

Each configuration is `vaestudio train --nproc N` in a child process on MNIST (one process is
the ordinary single-process path, with the hand-written MLP step on a CPU; several processes
train with autograd and DDP, so one process with `--no-fused-step` is measured too, the same
step without DDP). Images/s is the training rate of an epoch as `vaestudio train` prints it
(evaluation and start-up not counted); the best epoch of the best round counts, and the
configurations alternate in rounds because this machine is shared. With GPUs, every count
from 1 to the number of GPUs is measured on CUDA as well.

    python benchmarks/ddp_scaling.py [--epochs 2] [--rounds 2] [--batch-size 128] [--max-cpu-procs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from common import ROOT, data_dir, result_line

RATE = re.compile(r"([\d,]+) img/s")


def epoch_rates(nproc: int, device: str, args: argparse.Namespace, folder: Path, *extra: str) -> list[float]:
    out = folder / f"ddp-{device}-{nproc}.safetensors"
    command = [sys.executable, "-m", "vaestudio", "train", "--dataset", "mnist", "--data-dir", args.data_dir,
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--device", device, "--quiet",
               "--out", str(out), "--nproc", str(nproc), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    rates = [float(match.group(1).replace(",", "")) for line in result.stdout.splitlines()
             if line.startswith("epoch") and (match := RATE.search(line))]
    out.unlink(missing_ok=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch (default: the founding 128)")
    parser.add_argument("--max-cpu-procs", type=int, default=2)
    args = parser.parse_args()
    args.data_dir = data_dir()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    configurations = [("1proc", 1, "cpu", ()), ("1proc_autograd", 1, "cpu", ("--no-fused-step",))]
    configurations += [(f"{count}proc", count, "cpu", ()) for count in range(2, args.max_cpu_procs + 1)]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    configurations += [(f"{count}gpu", count, "cuda", ()) for count in range(1, gpus + 1)]
    print(f"{cores} CPU cores, {gpus} GPU(s); MNIST, batch {args.batch_size}, {args.epochs} epoch(s) a run, "
          f"{args.rounds} round(s)")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            for name, nproc, device, extra in configurations:
                rates = epoch_rates(nproc, device, args, Path(folder), *extra)
                print(f"round {round_index + 1}  {name:<15} {device:<4}  epochs: "
                      + ", ".join(f"{rate:,.0f}" for rate in rates) + " img/s", flush=True)
                best[name] = max(best.get(name, 0.0), *rates)
    figures = {f"images_per_s_{name}": rate for name, rate in best.items()}
    for name, rate in best.items():
        if name.endswith("proc") and name != "1proc":
            figures[f"scaling_{name}"] = rate / best["1proc"]
            figures[f"scaling_{name}_vs_autograd"] = rate / best["1proc_autograd"]
        if name.endswith("gpu") and name != "1gpu":
            figures[f"scaling_{name}"] = rate / best["1gpu"]
    print(result_line(**figures))


if __name__ == "__main__":
    main()
