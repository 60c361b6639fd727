"""Nothing lost: a save killed at any moment leaves the previous file whole; a full disk or a read-only folder
leaves the old file, no temporary files and a clear message."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from model_file_tools import write_valid_model
from tiny_data import write_idx_folder

from vaestudio.core.data import paths
from vaestudio.core.errors import ModelFileError
from vaestudio.core.models.model_files import load_model, save_model
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig

KILLS = 30
ROOT = Path(__file__).resolve().parents[2]


def _save_forever(path: Path, first: int) -> None:
    """The child: save a model whose every weight equals its epoch, epoch after epoch, until killed."""
    try:
        torch.set_num_threads(1)
        config = ModelConfig("mlp", 8, 256)  # about 1.7 MB a file: a write takes long enough to be hit
        model = build_model(config)
        training = TrainingConfig(model=config)
        for epoch in range(first, first + 100_000):
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.fill_(float(epoch))
            save_model(path, model, training, epoch=epoch)
    finally:
        os._exit(0)


def _check_whole(path: Path) -> int:
    saved = load_model(path)
    values = torch.cat([parameter.flatten() for parameter in saved.model.parameters()])
    assert bool((values == saved.epoch).all()), "weights from two different saves in one file"
    return saved.epoch


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_save_killed_at_random_moments_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "model.safetensors"
    generator = random.Random(7)
    epochs_seen = []
    for kill in range(KILLS):
        before = path.stat().st_ino if path.exists() else None
        pid = os.fork()
        if pid == 0:
            _save_forever(path, first=kill * 100_000 % 99_000 + 1)
        deadline = time.monotonic() + 30  # until this child has saved once (each save is a new file)
        while (not path.exists() or path.stat().st_ino == before) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(generator.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        epochs_seen.append(_check_whole(path))
    assert len(set(epochs_seen)) >= KILLS // 2  # the kills did land between different saves
    leftovers = [p for p in tmp_path.iterdir() if p.name != "model.safetensors"]
    assert all(p.name.startswith(".model-") and ".tmp" in p.name for p in leftovers)  # only a killed write's own
    # The next save sweeps them once they are old enough that no writer on a shared folder can still be at work.
    live = tmp_path / f".model-{os.getpid()}-0123abcd.tmp.safetensors"  # a writer that is still running: kept
    live.write_bytes(b"")
    dead = tmp_path / ".model-999999998-0123abcd.tmp.safetensors"  # a killed writer's, as the kills above may leave
    dead.write_bytes(b"half a model")
    for leftover in leftovers + [live, dead]:
        os.utime(leftover, (time.time() - 2 * paths.STALE_TEMPORARY_AGE_S,) * 2)
    fresh = tmp_path / ".model-999999999-89abcdef.tmp.safetensors"  # a dead writer's, changed just now: kept
    fresh.write_bytes(b"")
    write_valid_model(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, live.name, fresh.name])


def test_training_killed_mid_epoch_and_mid_save_keeps_a_whole_model(tmp_path):
    """`vaestudio train --resume m --out m`, SIGKILLed three times: m always opens, its epoch never goes back."""
    write_idx_folder(tmp_path / "digits", train=128, test=32)
    model = tmp_path / "m.safetensors"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "VAESTUDIO_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "vaestudio", "train", "--dataset", f"idx:{tmp_path / 'digits'}", "--epochs", "1",
               "--latent-dim", "2", "--hidden", "64", "--batch-size", "16", "--device", "cpu", "--out", str(model)]
    subprocess.run(command, env=environment, check=True, capture_output=True, timeout=120)
    epoch = load_model(model).epoch
    generator = random.Random(3)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-m", "vaestudio", "train", "--resume", str(model), "--out",
                                  str(model), "--epochs", "100000", "--device", "cpu", "--quiet"],
                                 env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            start = model.stat().st_mtime_ns
            deadline = time.monotonic() + 60
            while model.stat().st_mtime_ns == start and time.monotonic() < deadline:  # it is saving epochs now
                time.sleep(0.01)
            time.sleep(generator.uniform(0.05, 0.5))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        saved = load_model(model)
        assert saved.epoch > epoch and len(saved.history.epochs) == saved.epoch
        assert len(saved.history.step_loss) == saved.epoch * 8  # the file's history is whole epochs only
        epoch = saved.epoch


# --- full disk and read-only folders ---

def _model_and_training():
    config = ModelConfig("mlp", 3, 16)
    return build_model(config), TrainingConfig(model=config)


def _assert_old_file_only(folder: Path, path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, where):
    path = write_valid_model(tmp_path / "m.safetensors")
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        original = Path.write_bytes

        def half_then_full(self, data):
            original(self, data[: len(data) // 2])
            full()

        monkeypatch.setattr(Path, "write_bytes", half_then_full)
    elif where == "fsync":
        monkeypatch.setattr(paths.os, "fsync", full)
    else:
        monkeypatch.setattr(paths.os, "replace", full)
    model, training = _model_and_training()
    with pytest.raises(ModelFileError, match="Could not write the model to .*No space left on device. Choose a folder "
                                             "you can write to with free space"):
        save_model(path, model, training, epoch=5)
    _assert_old_file_only(tmp_path, path, before)
    assert load_model(path).epoch == 1


def test_a_read_only_folder_leaves_the_old_file(tmp_path, monkeypatch):
    path = write_valid_model(tmp_path / "m.safetensors")
    before = path.read_bytes()
    original_open = os.open

    def read_only(file, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return original_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(paths.os, "open", read_only)
    model, training = _model_and_training()
    with pytest.raises(ModelFileError, match="Could not write the model to .*Read-only file system"):
        save_model(path, model, training, epoch=5)
    _assert_old_file_only(tmp_path, path, before)


@contextlib.contextmanager
def _small_tmpfs(folder: Path, size: str):
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the simulated ENOSPC and EROFS tests stand in")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounts a small tmpfs: Linux, as root")
def test_a_really_full_and_a_really_read_only_disk(tmp_path):
    with _small_tmpfs(tmp_path / "small", "600k") as folder:
        path = write_valid_model(folder / "m.safetensors")
        before = path.read_bytes()
        assert len(before) > 300_000  # a second copy beside it cannot fit in 600 kB
        (folder / "filler").write_bytes(bytes(600_000 - 2 * 4096 - len(before) - 20_000))
        model, training = _model_and_training()
        big = build_model(ModelConfig("mlp", 3, 64))
        with pytest.raises(ModelFileError, match="No space left on device"):
            save_model(path, big, TrainingConfig(model=big.config), epoch=5)
        (folder / "filler").unlink()
        _assert_old_file_only(folder, path, before)
        assert subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, check=False).returncode == 0
        with pytest.raises(ModelFileError, match="Read-only file system"):
            save_model(path, model, training, epoch=6)
        _assert_old_file_only(folder, path, before)
