"""Training on several processes: torch.distributed's DistributedDataParallel (DDP), launched by torchrun.

`torchrun --nproc-per-node N -m vaestudio train ...` (or `vaestudio train --nproc N`, which
starts the same through torch's own launcher) runs N copies of the training command. Each
finds its place from the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE: `launched_place`), joins the process group (`ProcessGroup`: gloo on CPUs,
NCCL on GPUs, each rank on cuda:LOCAL_RANK) and trains with a `DistributedTrainer`:

- **Data.** Every rank computes the epoch's shuffled order exactly as a single process does
  (same seed, same permutation) and takes its contiguous slice of each global batch; the
  batch size a person gives stays the global one, and so does the learning rate.
- **Gradients.** The loss is a sum over the batch, so the gradient of the global batch is the
  *sum* of the ranks' gradients: DDP all-reduces them with a summing hook (DDP averages by
  default), and Adam sees the gradient a single process would. The step is the autograd one
  with DDP for every network, its forward pass in the run's precision (precision.py, resolved on
  each rank's device); the fused MLP step, whose gradient is written by hand, is a
  single-process optimisation and is not used here.
- **One view of each step.** After the forward pass the ranks all-reduce their loss sums
  together with a stop flag: every rank reports the global batch's loss, finds a NaN at the
  same step, and stops at the same step when any rank was asked to (Ctrl+C or SIGTERM sets
  the flag; `ProcessGroup` installs the handlers), so no rank is left waiting for the others.
- **Rank 0 only** evaluates the test set (the others receive its figures), prints progress and
  writes the model file, atomically, at each epoch end. A stop rewinds every rank to its last
  epoch end, which is what the file holds.

Collectives time out after `PROCESS_GROUP_TIMEOUT`, and torchrun ends the other ranks when one
of them fails, so no rank hangs. None of this runs for a single process: its path is unchanged.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from vaestudio.core.data.datasets import DatasetSplits
from vaestudio.core.errors import ConfigError, DeviceError, TrainingError
from vaestudio.core.models.history import EvaluationResult
from vaestudio.core.models.networks import VAE
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.objectives import LossTerms, negative_elbo
from vaestudio.core.training.precision import FLOAT32, forward_context
from vaestudio.core.training.steps import make_optimizer
from vaestudio.core.training.trainer import Trainer, TrainingControl

PROCESS_GROUP_TIMEOUT = timedelta(minutes=10)  # longest wait in one collective (rank 0 evaluating and saving)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class ProcessPlace:
    """Where this process stands in a launch of several: its rank overall and on its machine."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_place(environ: Mapping[str, str] | None = None) -> ProcessPlace | None:
    """This process's place in a torchrun launch of several processes; None for a single process."""
    environ = os.environ if environ is None else environ
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return None
    try:
        rank, world_size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local_rank = int(environ.get("LOCAL_RANK", rank))
        local_world_size = int(environ.get("LOCAL_WORLD_SIZE", world_size))
    except ValueError as error:
        raise ConfigError(f"The launcher's RANK, WORLD_SIZE or LOCAL_RANK is not a number ({error}). "
                          "Start several processes with torchrun or vaestudio train --nproc N.") from error
    if world_size <= 1:
        return None
    if not 0 <= rank < world_size or not 0 <= local_rank < local_world_size:
        raise ConfigError(f"Rank {rank} (local {local_rank}) does not fit a world of {world_size} processes "
                          f"({local_world_size} on this machine). Start the processes with torchrun.")
    return ProcessPlace(rank, world_size, local_rank, local_world_size)


def rank_device(requested: str, place: ProcessPlace) -> torch.device:
    """The device a rank trains on: the CPU, or the GPU of its local rank (one process per GPU)."""
    name = (requested or "auto").strip().lower()
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name == "mps":
        raise DeviceError("Training on several processes runs on CPUs (gloo) or CUDA GPUs (NCCL), not on the "
                          "Apple GPU. Use --device cpu, or train in one process.")
    if name not in ("auto", "cuda"):
        if name.startswith("cuda"):
            raise ConfigError(f"With several processes each one trains on the GPU of its local rank "
                              f"(cuda:LOCAL_RANK); use --device cuda (or auto) instead of {requested}.")
        raise DeviceError(f"Unknown device {requested!r}: use auto, cpu or cuda.")
    if not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available here. Use --device cpu (or auto), "
                          "or check the NVIDIA driver with nvidia-smi.")
    count = torch.cuda.device_count()
    if place.local_rank >= count:
        raise DeviceError(f"Process {place.local_rank} on this machine has no GPU of its own: the machine has "
                          f"{count} GPU(s). Start at most {count} process(es) per machine (--nproc-per-node "
                          f"{count}), or train on the CPUs with --device cpu.")
    return torch.device("cuda", place.local_rank)


class ProcessGroup:
    """This process's membership of the training group, as a context manager.

    Entering sets the rank's GPU, joins the group (gloo or NCCL, with `timeout` on every
    collective) and turns SIGINT and SIGTERM into a stop request that the ranks agree on at
    the next step; leaving restores the signal handlers and leaves the group.
    """

    def __init__(self, place: ProcessPlace, device: torch.device,
                 timeout: timedelta = PROCESS_GROUP_TIMEOUT) -> None:
        self.place = place
        self.device = device
        self.timeout = timeout
        self.backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
        self._stop = threading.Event()
        self._previous_handlers: dict[int, object] = {}
        self.leaving_together = False  # set when every rank ends on the same error (they agreed on it)

    @property
    def stop_requested(self) -> bool:
        """Whether this process was asked to stop (the ranks learn it together at the next step)."""
        return self._stop.is_set()

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def describe(self) -> str:
        return f"DDP on {self.place.world_size} processes ({self.backend})"

    def __enter__(self) -> ProcessGroup:
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        try:
            dist.init_process_group(self.backend, timeout=self.timeout, rank=self.place.rank,
                                    world_size=self.place.world_size)
        except (RuntimeError, ValueError) as error:
            raise TrainingError(f"Rank {self.place.rank} could not join the other training processes ({error}). "
                                "Start them with torchrun (or vaestudio train --nproc N) and check its "
                                "rendezvous address.") from error
        if threading.current_thread() is threading.main_thread():
            for signal_number in STOP_SIGNALS:
                self._previous_handlers[signal_number] = signal.signal(signal_number, self.request_stop)
        return self

    def __exit__(self, error_type: type | None, *exc: object) -> None:
        for signal_number, handler in self._previous_handlers.items():
            signal.signal(signal_number, handler)
        self._previous_handlers.clear()
        if not dist.is_initialized():
            return
        if error_type is None or self.leaving_together:  # gloo may abort a rank that leaves before the others
            dist.barrier()
        dist.destroy_process_group()

    def from_main(self, value: object) -> object:
        """Rank 0's `value` on every rank (any picklable object)."""
        holder = [value if self.place.is_main else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, value: object) -> list[object]:
        """Every rank's `value`, in rank order, on every rank."""
        values: list[object] = [None] * self.place.world_size
        dist.all_gather_object(values, value)
        return values


def _sum_gradients(process_group, bucket):
    """DDP's communication hook: the sum of the ranks' gradients (the loss is a sum over the batch)."""
    group = process_group if process_group is not None else dist.group.WORLD
    future = dist.all_reduce(bucket.buffer(), group=group, async_op=True).get_future()
    return future.then(lambda done: done.value()[0])


class DistributedStep:
    """The autograd step on this rank's slice of each global batch, with DDP summing the gradients.

    `compute` gets the whole global batch (so the trainer's bookkeeping stays that of one process),
    trains on this rank's slice of it and returns the global batch's loss sums; the ranks' stop
    flags travel with them and stop every rank at the same step.
    """

    def __init__(self, model: VAE, lr: float, group: ProcessGroup, control: TrainingControl,
                 precision: str = FLOAT32) -> None:
        self.name = f"autograd, {group.describe()}"
        self.model = model
        self.precision = precision
        self.group = group
        self.control = control
        device_ids = [group.device.index] if group.device.type == "cuda" else None
        # A conv layer of one input channel has weights whose strides differ from DDP's bucket layout in a
        # dimension of size one (the same memory order); DDP warns about it at the first step, needlessly.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        self.network = DistributedDataParallel(model, device_ids=device_ids)
        self.network.register_comm_hook(None, _sum_gradients)
        self.optimizer: torch.optim.Adam = make_optimizer(model, lr)
        self._terms: LossTerms | None = None

    def compute(self, x: torch.Tensor, beta: float, generator: torch.Generator) -> list[float]:
        place = self.group.place
        shard = x.tensor_split(place.world_size)[place.rank]
        with forward_context(self.precision, self.group.device):
            logits, mu, logvar = self.network(shard, generator)
        self._terms = terms = negative_elbo(logits.float(), shard, mu.float(), logvar.float(), beta)
        flag = terms.loss.new_tensor(1.0 if self.group.stop_requested else 0.0)
        sums = torch.stack([terms.loss.detach(), terms.reconstruction.detach(), terms.kl.detach(), flag]).double()
        dist.all_reduce(sums)
        loss, reconstruction, kl, stops = sums.tolist()
        if stops > 0:
            self.control.stop()  # every rank sees it after this same step
        return [loss, reconstruction, kl]

    def update(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._terms.loss.backward()  # DDP sums the gradients of every rank here
        self._terms = None
        self.optimizer.step()


def rank_seed(seed: int, start_epoch: int, rank: int) -> int:
    """The seed of a rank's own random stream (ranks above 0; rank 0 continues the single-process stream)."""
    return hash((seed, start_epoch, rank)) & (2 ** 63 - 1)


class DistributedTrainer(Trainer):
    """A `Trainer` that is one rank of a DDP run: its step is `DistributedStep`, and only rank 0 evaluates.

    Rank 0 keeps the random stream of a single-process run, whose state the model file saves;
    the other ranks draw their noise from streams of their own.
    """

    def __init__(self, config: TrainingConfig, data: DatasetSplits, *, group: ProcessGroup, **options) -> None:
        self.group = group
        # the file records "cpu" or "cuda", what every rank used, rather than "auto"
        config = replace(config, device="cuda" if group.device.type == "cuda" else "cpu")
        super().__init__(config, data, **options)
        if group.place.rank > 0:
            seed = rank_seed(config.seed, self.epoch, group.place.rank)
            self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def _make_step(self) -> DistributedStep:
        return DistributedStep(self.model, self.config.lr, self.group, self.control, self.config.precision)

    def _evaluate(self) -> EvaluationResult:
        result = super()._evaluate() if self.group.place.is_main else None
        return self.group.from_main(result)
