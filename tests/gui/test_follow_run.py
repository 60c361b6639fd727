"""File > Follow run…: the window follows a model file that another process rewrites at each epoch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from full_window import full_window  # noqa: F401 (a fixture)
from test_explorer import TIMEOUT, saved_model

from vaestudio.core.latent.space import encode_images
from vaestudio.core.models.model_files import load_model, save_model
from vaestudio.gui.training import follow
from vaestudio.gui.widgets.dialogs import error_reporter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EPOCHS = 24


def start_writer(dataset: str, out: Path, epochs: int = EPOCHS, pause: float = 0.3) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(HERE / "run_writer.py"), dataset, str(out), str(epochs), str(pause)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def map_shows(window, model) -> bool:
    """Whether the latent map's points are the encoding of the test images by `model`."""
    explorer = window.workspace.explorer
    result = explorer.result
    if result is None or explorer.map_preview:
        return False
    mu = encode_images(model, torch.from_numpy(np.ascontiguousarray(explorer.images[result.indices]))).mu
    return mu.shape == result.mu.shape and np.allclose(mu, result.mu, atol=1e-4)


def test_the_window_follows_a_file_another_process_rewrites(full_window, qtbot, tiny_dataset, tmp_path):  # noqa: F811
    window = full_window
    assert window.loss_plot is not None  # the Training tab's plots built: they follow every epoch read
    errors = []
    error_reporter.shown.connect(lambda title, message: errors.append((title, message)))
    shown_epochs = []
    window.following.followed.connect(lambda saved: shown_epochs.append(saved.epoch))
    folder = tmp_path / "run"
    folder.mkdir()
    writer = start_writer(tiny_dataset, folder / "model.safetensors")
    follower = window.following.follow(folder, poll_ms=250, settle_ms=60)  # the run folder: its file comes later
    assert follower.path == folder / "model.safetensors"
    qtbot.waitUntil(lambda: writer.poll() is not None, timeout=180_000)
    stdout, stderr = writer.communicate()
    assert writer.returncode == 0, stderr
    assert f"saved {EPOCHS} times" in stdout  # >= 20 rewrites, every few hundred ms
    final = load_model(folder / "model.safetensors")
    assert final.epoch == EPOCHS
    qtbot.waitUntil(lambda: window.session.epoch == EPOCHS, timeout=TIMEOUT)
    assert len(shown_epochs) >= 3 and shown_epochs == sorted(set(shown_epochs)), shown_epochs
    assert window.session.origin == "followed" and "following its run" in window.model_status.text()
    assert len(window.session.history.epochs) == EPOCHS and len(window.loss_plot.history.epochs) == EPOCHS
    assert window.kl_bars.kl.tolist() == pytest.approx(final.history.epochs[-1].test.kl_per_dim)
    assert f"Following {final.source}: epoch {EPOCHS} of {EPOCHS}" in window.panel.status_label.text()
    for name, value in final.model.state_dict().items():  # the session holds the last epoch's weights
        torch.testing.assert_close(window.session.model.state_dict()[name], value)
    qtbot.waitUntil(lambda: map_shows(window, final.model), timeout=TIMEOUT)  # the map: the last epoch, not stale
    assert not errors
    window.following.stop()


def test_a_file_read_while_it_is_incomplete_is_read_again_once_whole(window, qtbot, tiny_dataset, tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(path, saved_model(tiny_dataset, 4).model, saved_model(tiny_dataset, 4).training, epoch=3)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # a copy still arriving (a sync client writing in place)
    waiting = []
    window.following.follow(path, poll_ms=100, settle_ms=30).waiting.connect(waiting.append)
    qtbot.waitUntil(lambda: any("cannot be read yet" in message for message in waiting), timeout=TIMEOUT)
    assert window.session.origin != "followed"
    path.write_bytes(whole)
    qtbot.waitUntil(lambda: window.session.origin == "followed" and window.session.epoch == 3, timeout=TIMEOUT)
    modified = path.stat().st_mtime_ns
    qtbot.wait(300)  # several more looks at the file
    assert path.read_bytes() == whole and path.stat().st_mtime_ns == modified, "the follower never writes"
    assert window.following.follower.reads == 1, "an unchanged file is not read again"


def test_file_menu_follow_run_picks_a_file_and_follows_it(window, qtbot, tiny_dataset, tmp_path, monkeypatch):
    path = tmp_path / "server-run.safetensors"
    saved = saved_model(tiny_dataset, 4)
    save_model(path, saved.model, saved.training, epoch=1)
    monkeypatch.setattr(follow.QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))
    window.menus.follow_action.trigger()
    assert window.following.path == path
    qtbot.waitUntil(lambda: window.session.origin == "followed" and window.session.epoch == 1, timeout=TIMEOUT)
    save_model(path, saved.model, saved.training, epoch=2)
    qtbot.waitUntil(lambda: window.session.epoch == 2, timeout=TIMEOUT)
    # opening another model ends the following
    window.show_model(saved_model(tiny_dataset, 4), "file")
    assert window.following.follower is None


def test_file_menu_follow_run_folder_waits_for_its_model_file(window, qtbot, tiny_dataset, tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setattr(follow.QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    window.menus.follow_folder_action.trigger()
    assert window.following.path == folder / "model.safetensors"
    assert "Waiting for" in window.panel.status_label.text()
    saved = saved_model(tiny_dataset, 4)
    save_model(folder / "model.safetensors", saved.model, saved.training, epoch=5)
    qtbot.waitUntil(lambda: window.session.epoch == 5 and window.session.origin == "followed", timeout=TIMEOUT)
    window.following.stop()


@pytest.mark.parametrize("names, expected", [([], "model.safetensors"), (["a.safetensors"], "a.safetensors"),
                                             (["a.safetensors", "b.safetensors"], "model.safetensors")])
def test_a_run_folder_names_its_model_file(tmp_path, names, expected):
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert follow.followed_file(tmp_path) == tmp_path / expected
    assert follow.followed_file(tmp_path / "x.safetensors") == tmp_path / "x.safetensors"
