"""`vaestudio train` on several processes: `--nproc N` on this machine, or one rank of a torchrun launch.

`vaestudio train --nproc N ...` checks the settings and fetches a named dataset once, then
hands the same command to torch's own launcher (`torch.distributed.run`, what `torchrun`
runs) with a standalone rendezvous: N processes on this machine, each of which comes back
here as a rank (`train_as_rank`). Under `torchrun` (one or several machines) each process
starts at `train_as_rank` directly. The training itself is the core's
(`vaestudio.core.training.distributed`); this module decides who prints what: rank 0 prints
progress and the results, the other ranks only their own errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

from vaestudio.cli.train_command import kept_message, prepare_training, train_one_process
from vaestudio.core.console import ProgressBar
from vaestudio.core.errors import ConfigError, VaeStudioError

MAX_PROCESSES = 512
T = TypeVar("T")
LAUNCHER_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")  # the launcher installs handlers for these


class _ReportedElsewhere(Exception):
    """Another rank has the error and prints it; this one ends quietly."""


def train(args: argparse.Namespace) -> int:
    from vaestudio.core.training.distributed import launched_place

    if not 1 <= args.nproc <= MAX_PROCESSES:
        raise ConfigError(f"--nproc must be from 1 to {MAX_PROCESSES} (got {args.nproc}).")
    place = launched_place()
    if place is not None:
        return train_as_rank(args, place)
    if args.nproc > 1:
        return launch_on_this_machine(args)
    return train_one_process(args)


# --- the launcher: `vaestudio train --nproc N` --------------------------------------------------------------

def launch_on_this_machine(args: argparse.Namespace) -> int:
    """Start `args.nproc` processes of this same command with torch's launcher; the exit code of the run."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    from vaestudio.core.training.distributed import ProcessPlace, rank_device
    from vaestudio.core.training.thread_tuning import cpu_cores

    nproc = args.nproc
    config, _resume, _out = prepare_training(args)  # a wrong setting is said once, before any process starts
    device = rank_device(config.device, ProcessPlace(nproc - 1, nproc, nproc - 1, nproc))
    _fetch_named_dataset(config.dataset, args.data_dir, show=True)
    threads = max(1, cpu_cores() // nproc) if device.type == "cpu" else 1
    launcher = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "vaestudio"])
    # the same command for every process; not parsed: the launcher's parser would take --nproc for its own
    launcher.training_script_args = list(getattr(args, "argv", None) or sys.argv[1:])
    each = f", {threads} thread{'s' if threads > 1 else ''} each" if device.type == "cpu" else ""
    print(f"Starting {nproc} training processes ({'CPU, gloo' if device.type == 'cpu' else 'one per GPU, NCCL'}"
          f"{each}) with torch.distributed.run.", file=sys.stderr)
    with _environment(OMP_NUM_THREADS=str(threads)), _kept_signal_handlers():
        try:
            run(launcher)
        except ChildFailedError as error:
            return _failed_exit_code(error)
        except SignalException as error:
            print(f"vaestudio: interrupted ({_signal_name(error.sigval)}).", file=sys.stderr)
            return 130
    return 0


def _failed_exit_code(error) -> int:
    """The run's exit code after a rank failed: that of the first rank to fail (each rank said why it ended)."""
    rank, failure = error.get_first_failure()
    code = failure.exitcode
    if code not in (1, 2, 130):  # not one of ours: killed by a signal, or an uncaught error
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"ended with exit code {code}"
        print(f"vaestudio: error: training process {rank} {how}; the others were stopped. Every completed epoch "
              "is saved.", file=sys.stderr)
    return code if code > 0 else 1


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables the user has not set, for the processes started inside; restore afterwards."""
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _kept_signal_handlers() -> Iterator[None]:
    """The launcher replaces the signal handlers of this process: put ours back when it returns."""
    numbers = [getattr(signal, name) for name in LAUNCHER_SIGNALS if hasattr(signal, name)]
    previous = {number: signal.getsignal(number) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None:
                signal.signal(number, handler)


def _fetch_named_dataset(spec: str, data_dir: str | None, *, show: bool) -> None:
    """Download (or make, for shapes) a named dataset that is not here yet; folders of files need nothing."""
    from vaestudio.core.data.catalogue import parse_dataset_spec
    from vaestudio.core.data.fetching import fetch_dataset

    if parse_dataset_spec(spec).kind in ("idx", "images"):
        return
    bar = ProgressBar()

    def progress(message: str, fraction: float | None) -> None:
        if not show:
            return
        if fraction is None or not bar.enabled:
            bar.clear()
            print(message, file=sys.stderr)
        else:
            bar.update(fraction, message)

    fetch_dataset(spec, data_dir, progress=progress)
    bar.clear()


# --- one rank -----------------------------------------------------------------------------------------------

def train_as_rank(args: argparse.Namespace, place) -> int:
    """Train as rank `place.rank` of a torchrun launch; rank 0 prints and saves.

    An error every rank meets alike (a setting, a missing file) is printed by rank 0 alone; one
    that a rank meets on its own, by that rank, named.
    """
    from vaestudio.core.training.distributed import rank_device

    try:
        if args.nproc > 1 and args.nproc != place.local_world_size:
            raise ConfigError(f"--nproc {args.nproc} asks for {args.nproc} processes but torchrun started "
                              f"{place.local_world_size} on this machine: under torchrun leave --nproc out.")
        return _train_in_group(args, place, rank_device(args.device, place))
    except _ReportedElsewhere:
        return 2
    except VaeStudioError as error:
        if place.is_main:
            raise
        print(f"vaestudio: error (process {place.rank}): {error}", file=sys.stderr)
        return 2


def _agree(group, attempt: Callable[[], T]) -> T:
    """`attempt()` on every rank; if it fails anywhere, every rank ends: the rank with the error says it (rank 0
    alone for an error all ranks share), the others end quietly."""
    try:
        value, error = attempt(), None
    except VaeStudioError as failure:
        value, error = None, failure
    messages = group.gather(None if error is None else str(error))
    group.leaving_together = any(message is not None for message in messages)
    if error is not None and (group.place.is_main or messages[0] != str(error)):
        raise error
    if any(message is not None for message in messages):
        raise _ReportedElsewhere
    return value


def _train_in_group(args, place, device) -> int:
    from vaestudio.cli.run_progress import ConsoleProgress
    from vaestudio.core.console import format_duration
    from vaestudio.core.training.distributed import DistributedTrainer, ProcessGroup
    from vaestudio.core.training.run import TrainingRun
    from vaestudio.core.training.trainer import TrainingDivergedError

    with ProcessGroup(place, device) as group:
        config, resume, out = _agree(group, lambda: prepare_training(args))
        _agree(group, lambda: _fetch_named_dataset(config.dataset, args.data_dir, show=place.is_main)
               if place.local_rank == 0 else None)  # once per machine, before any rank reads it
        run = TrainingRun(config, out=out if place.is_main else None, resume=resume, data_dir=args.data_dir,
                          trainer_type=partial(DistributedTrainer, group=group))
        if place.is_main:
            run.add_observer(ConsoleProgress(quiet=args.quiet))
        started = time.perf_counter()
        try:
            outcome = run.execute()
        except TrainingDivergedError:  # found at the same step by every rank
            group.leaving_together = True
            if not place.is_main:
                raise _ReportedElsewhere from None
            print(kept_message(run, out), file=sys.stderr)
            raise
        except RuntimeError as error:  # a collective failed: another process ended or the network went
            kept = f"; {kept_message(run, out)}" if place.is_main else "."
            print(f"vaestudio: error (process {place.rank}): lost contact with the other training processes "
                  f"({_first_line(error)}){kept}", file=sys.stderr)
            return 1
    if not place.is_main:
        return 130 if outcome == "stopped" else 0
    if outcome == "stopped":
        print(f"\nStopped during epoch {run.epoch + 1} (Ctrl+C or SIGTERM reached a training process): "
              f"{kept_message(run, out)}", file=sys.stderr)
        return 130
    epochs = f"{run.epoch} epoch{'' if run.epoch == 1 else 's'}"
    print(f"Saved {out} after {epochs} in {format_duration(time.perf_counter() - started)} ({group.describe()}).",
          file=sys.stderr)
    return 0


def _first_line(error: BaseException) -> str:
    """The gist of a communication error: its first line without the source location gloo and NCCL put first."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = text.rpartition("RuntimeError: ")[2]  # gloo's error as DDP's callback wraps it
    return re.sub(r"\[[^\]]*\]\s*", "", text)[:160]
