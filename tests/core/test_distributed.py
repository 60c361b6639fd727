"""Training on several processes: DDP over gloo, started through torch's own launcher.

The launches (`vaestudio train --nproc 2`, which runs torch.distributed.run) train one epoch of
tiny data in two CPU processes; the in-process tests join a one-process gloo group to check
the wiring (summed gradients, shared loss figures, stop flags, rank 0's evaluation).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import torch
from tiny_data import tiny_splits, write_idx_folder

from vaestudio.cli.main import main
from vaestudio.core.errors import ConfigError, DeviceError
from vaestudio.core.models.model_files import load_model
from vaestudio.core.models.networks import ModelConfig
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.core.training.distributed import (
    DistributedTrainer,
    ProcessGroup,
    ProcessPlace,
    launched_place,
    rank_device,
)
from vaestudio.core.training.precision import bfloat16_missing
from vaestudio.core.training.run import RunObserver, TrainingRun
from vaestudio.core.training.trainer import Trainer

TRAIN_IMAGES, TEST_IMAGES, BATCH = 600, 200, 64
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("ddp") / "digits"
    write_idx_folder(folder, train=TRAIN_IMAGES, test=TEST_IMAGES)
    return f"idx:{folder}"


def train_args(dataset: str, out: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", dataset, "--epochs", "1", "--latent-dim", "4", "--hidden", "32",
            "--batch-size", str(BATCH), "--seed", "3", "--device", "cpu", "--quiet", "--out", str(out), *extra]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def launch(args: list[str], nproc: int = 2) -> subprocess.Popen:
    """`vaestudio train --nproc N ...` in a new process (torch's launcher replaces signal handlers)."""
    return subprocess.Popen([sys.executable, "-m", "vaestudio", *args, "--nproc", str(nproc)], env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def processes_mentioning(marker: str) -> list[int]:
    """Live processes whose command line holds `marker` (each launch names its own model file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                children.append(int(entry.name))
    return sorted(children)


def no_process_left(marker: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while processes_mentioning(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds processes in /proc (Linux)")


@needs_proc
def test_two_gloo_processes_train_like_one_and_leave_one_file_and_no_process(digits, tmp_path):
    folder = tmp_path / "two"
    out = folder / "model.safetensors"
    launcher = launch(train_args(digits, out))
    children: set[int] = set()
    while launcher.poll() is None:  # the ranks, while they run
        children.update(children_of(launcher.pid))
        time.sleep(0.05)
    stdout, stderr = launcher.communicate()
    assert launcher.returncode == 0, stderr
    assert len(children) >= 2, "the launcher started its processes"
    assert stdout.count("epoch   1/1") == 1, "only rank 0 prints the results"
    assert "DDP on 2 processes (gloo)" in stderr
    assert sorted(path.name for path in folder.iterdir()) == ["model.safetensors"], "one file, written by rank 0"
    assert no_process_left(str(out)) and not [pid for pid in children if Path(f"/proc/{pid}").exists()]

    two = load_model(out)
    single_out = tmp_path / "one.safetensors"
    assert main(train_args(digits, single_out)) == 0
    one = load_model(single_out)
    assert two.epoch == one.epoch == 1 and two.training.batch_size == one.training.batch_size == BATCH
    assert len(two.history.step_loss) == len(one.history.step_loss) == -(-TRAIN_IMAGES // BATCH)
    assert two.test_loss == pytest.approx(one.test_loss, rel=0.01)
    assert two.history.epochs[-1].train_loss == pytest.approx(one.history.epochs[-1].train_loss, rel=0.01)


@needs_proc
def test_resume_with_another_number_of_processes(digits, tmp_path):
    single = tmp_path / "one.safetensors"
    assert main(train_args(digits, single)) == 0
    resumed_by_two = tmp_path / "two.safetensors"
    launcher = launch(["train", "--resume", str(single), "--epochs", "2", "--device", "cpu", "--quiet",
                       "--out", str(resumed_by_two)])
    _, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr
    model = load_model(resumed_by_two)
    steps = -(-TRAIN_IMAGES // BATCH)
    assert model.epoch == 2 and len(model.history.epochs) == 2 and len(model.history.step_loss) == 2 * steps
    assert model.config.latent_dim == 4 and model.optimizer_state is not None
    assert model.history.step_loss[:steps] == pytest.approx(load_model(single).history.step_loss)
    assert no_process_left(str(resumed_by_two))
    # and back to one process: a file written by two opens and trains on like any other
    assert main(["train", "--resume", str(resumed_by_two), "--epochs", "3", "--device", "cpu", "--quiet"]) == 0
    again = load_model(resumed_by_two)
    assert again.epoch == 3 and len(again.history.step_loss) == 3 * steps
    assert again.test_loss < model.history.epochs[0].test.loss


@needs_proc
def test_sigterm_to_one_rank_stops_every_rank_at_the_last_saved_epoch(digits, tmp_path):
    out = tmp_path / "stopped.safetensors"
    args = train_args(digits, out)
    args[args.index("--epochs") + 1] = "400"
    launcher = launch(args)
    deadline = time.monotonic() + 120
    while not out.exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    ranks = children_of(launcher.pid)
    assert out.exists() and len(ranks) == 2, launcher.stderr.read() if launcher.poll() is not None else ranks
    os.kill(ranks[-1], signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, stderr
    assert "Stopped during epoch" in stderr
    saved = load_model(out)
    assert 1 <= saved.epoch < 400
    assert len(saved.history.epochs) == saved.epoch
    assert len(saved.history.step_loss) == saved.epoch * -(-TRAIN_IMAGES // BATCH), "no step of a partial epoch"
    assert no_process_left(str(out))


def test_settings_are_checked_once_before_any_process_starts(digits, tmp_path, capsys):
    assert main(train_args(digits, tmp_path / "m.safetensors", "--latent-dim", "500", "--nproc", "2")) == 2
    err = capsys.readouterr().err
    assert err.count("Latent size 500 is out of range") == 1 and "Starting" not in err
    assert main(train_args(digits, tmp_path / "m.safetensors", "--nproc", "0")) == 2  # 0 is no count of processes
    assert "--nproc must be from 1 to" in capsys.readouterr().err


def test_under_torchrun_an_error_every_rank_meets_is_said_once(digits, tmp_path):
    out = tmp_path / "never.safetensors"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "vaestudio", *train_args(digits, out, "--latent-dim", "500")],
                            env=environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert result.stderr.count("Latent size 500 is out of range") == 1, result.stderr
    assert not out.exists() and no_process_left(str(out))


@pytest.mark.parametrize("environ, place", [
    ({}, None),
    ({"RANK": "0", "WORLD_SIZE": "1"}, None),
    ({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, ProcessPlace(1, 4, 1, 2)),
    ({"RANK": "3", "WORLD_SIZE": "4"}, ProcessPlace(3, 4, 3, 4)),
])
def test_launched_place_reads_what_torchrun_sets(environ, place):
    assert launched_place(environ) == place


@pytest.mark.parametrize("environ, message", [
    ({"RANK": "x", "WORLD_SIZE": "2"}, "is not a number"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "does not fit a world of 2"),
])
def test_a_broken_launch_environment_is_said_plainly(environ, message):
    with pytest.raises(ConfigError, match=message):
        launched_place(environ)


def test_each_rank_trains_on_the_cpu_or_its_own_gpu():
    place = ProcessPlace(1, 2, 1, 2)
    assert rank_device("cpu", place) == torch.device("cpu")
    with pytest.raises(ConfigError, match="use --device cuda"):
        rank_device("cuda:0", place)
    with pytest.raises(DeviceError, match="not on the Apple GPU"):
        rank_device("mps", place)
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        assert rank_device("auto", ProcessPlace(0, 2, 0, 2)) == torch.device("cuda", 0)
        with pytest.raises(DeviceError, match=f"Start at most {count}"):
            rank_device("cuda", ProcessPlace(count, count + 1, count, count + 1))
    else:
        assert rank_device("auto", place) == torch.device("cpu")
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            rank_device("cuda", place)


# --- one process in a gloo group of its own: the DDP wiring, without launching anything -----------------------

@pytest.fixture
def one_process_group(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    with ProcessGroup(ProcessPlace(0, 1, 0, 1), torch.device("cpu")) as group:
        yield group


SMALL = TrainingConfig(model=ModelConfig("mlp", latent_dim=3, hidden=24), epochs=2, batch_size=32, device="cpu",
                       seed=5, fused_step=False)


def test_the_ddp_step_computes_what_the_autograd_step_does(one_process_group):
    splits = tiny_splits(train=200, test=50)
    alone = Trainer(SMALL, splits)
    ddp = DistributedTrainer(SMALL, splits, group=one_process_group)
    assert ddp.step.name == "autograd, DDP on 1 processes (gloo)"
    for trainer in (alone, ddp):
        for _ in trainer.run():
            pass
    assert ddp.history.step_loss == pytest.approx(alone.history.step_loss, rel=1e-5)
    for name, value in alone.model.state_dict().items():
        torch.testing.assert_close(ddp.model.state_dict()[name], value, rtol=1e-4, atol=1e-5)
    assert ddp.history.epochs[-1].test.loss == pytest.approx(alone.history.epochs[-1].test.loss, rel=1e-5)


@pytest.mark.skipif(bfloat16_missing(torch.device("cpu")) is not None, reason="no bfloat16 training on this CPU")
def test_the_ddp_step_trains_in_the_runs_precision(one_process_group):
    splits = tiny_splits(train=96, test=32)
    conv = replace(SMALL, model=ModelConfig("conv", latent_dim=3, hidden=24), epochs=1, precision="bfloat16")
    alone = Trainer(conv, splits)
    ddp = DistributedTrainer(conv, splits, group=one_process_group)
    assert (ddp.config.precision, ddp.step.precision) == ("bfloat16", "bfloat16")
    for trainer in (alone, ddp):
        for _ in trainer.run():
            pass
    assert ddp.history.step_loss == pytest.approx(alone.history.step_loss, rel=1e-3)
    assert all(p.dtype == torch.float32 for p in ddp.model.parameters())


class StopSignalAt(RunObserver):
    """What a SIGTERM does to a rank: its group's stop flag, which the ranks read at the next step."""

    def __init__(self, group, step):
        self.group, self.step = group, step

    def on_step(self, run, progress):
        if progress.step == self.step:
            self.group.request_stop()


def test_a_stop_request_reaches_the_run_at_the_next_step_and_rewinds_it(one_process_group, tmp_path):
    out = tmp_path / "m.safetensors"
    run = TrainingRun(SMALL, out=out, data=tiny_splits(train=200, test=50),
                      trainer_type=partial(DistributedTrainer, group=one_process_group))
    run.add_observer(StopSignalAt(one_process_group, 10))  # in epoch 2 of 7 steps each
    assert run.execute() == "stopped"
    assert run.epoch == 1 and len(run.history.step_loss) == 7
    saved = load_model(out)
    assert saved.epoch == 1 and saved.history.step_loss == pytest.approx(run.history.step_loss)
    assert saved.training.device == "cpu"
