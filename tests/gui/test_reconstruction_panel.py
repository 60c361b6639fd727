"""The reconstruction grid shows the core's reconstructions; sorting uses the core's per-image losses."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from vaestudio.core.latent.reconstruction import score_images
from vaestudio.core.latent.space import reconstruct_images
from vaestudio.core.training.evaluation import to_pixels
from vaestudio.core.training.objectives import (
    kl_per_dimension,
    reconstruction_per_image,
)
from vaestudio.gui.panels.reconstruction import ReconstructionPanel


@pytest.fixture
def panel(qtbot, session, test_set):
    widget = ReconstructionPanel(session)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    with qtbot.waitSignal(widget.test_scores.ready, timeout=10_000):
        widget.set_test_data(test_set)
    return widget


def _order(panel, key: str) -> None:
    panel.order_box.setCurrentIndex(panel.order_box.findData(key))


def test_the_grid_matches_the_cores_reconstructions(panel, model, test_set):
    indices = panel.indices
    assert indices.size == panel.count_spin.value() and len(set(indices.tolist())) == indices.size
    expected = reconstruct_images(model, test_set.images[indices])
    assert np.allclose(panel.reconstructions, expected, atol=1e-6)
    tiles = panel.grid.images()
    assert tiles.shape == (indices.size, 28, 57)
    assert np.allclose(tiles[:, :, :28], test_set.images[indices].numpy() / 255.0, atol=1e-6)
    assert np.allclose(tiles[:, :, 29:], expected, atol=1e-6)


def test_resample_draws_other_images(panel, model, test_set):
    before = panel.indices.copy()
    panel.resample_button.click()
    assert not np.array_equal(before, panel.indices)
    assert np.allclose(panel.reconstructions, reconstruct_images(model, test_set.images[panel.indices]), atol=1e-6)


def test_the_class_filter_shows_only_that_class(panel, test_set):
    panel.class_box.setCurrentIndex(panel.class_box.findData(4))
    labels = test_set.labels.numpy()
    assert panel.indices.size == min(panel.count_spin.value(), int((labels == 4).sum())) > 0
    assert set(labels[panel.indices].tolist()) == {4}
    _order(panel, "worst")
    assert set(labels[panel.indices].tolist()) == {4}


def test_worst_first_sorts_by_the_cores_per_image_loss(panel, model, test_set):
    panel.count_spin.setValue(10)
    _order(panel, "worst")
    assert not panel.resample_button.isEnabled()
    scores = score_images(model, test_set.images)
    with torch.no_grad():
        x = to_pixels(test_set.images)
        mu, logvar = model.encode(x)
        loss = (reconstruction_per_image(model.decode_logits(mu), x) + kl_per_dimension(mu, logvar).sum(1)).numpy()
    assert np.allclose(scores.loss, loss, rtol=1e-5)
    assert np.allclose(panel.test_scores.scores.loss, loss, rtol=1e-5)
    assert np.array_equal(panel.indices, np.argsort(-loss, kind="stable")[:10])
    assert np.allclose(panel.reconstructions, reconstruct_images(model, test_set.images[panel.indices]), atol=1e-6)
    assert panel.grid.captions()[0].endswith(f"{loss[panel.indices[0]]:.0f}")
    _order(panel, "best")
    assert np.array_equal(panel.indices, np.argsort(loss, kind="stable")[:10])


def test_clicking_a_pair_marks_that_test_image(panel, qtbot):
    tile = 3
    index = int(panel.indices[tile])
    with qtbot.waitSignal(panel.sampleMarked) as blocker:
        qtbot.mouseClick(panel.grid, Qt.MouseButton.LeftButton, pos=panel.grid.tile_rect(tile).center())
    assert blocker.args == [index]
    assert panel.grid.highlight() == tile and f"#{index}" in panel.status.text()


def test_new_weights_rescore_and_redraw(panel, qtbot, session, model, test_set):
    _order(panel, "worst")
    before = panel.test_scores.scores.loss.copy()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(0.5)
    with qtbot.waitSignal(panel.test_scores.ready, timeout=10_000):
        session.weightsUpdated.emit()
    assert not np.allclose(before, panel.test_scores.scores.loss)
    assert np.allclose(panel.test_scores.scores.loss, score_images(model, test_set.images).loss, rtol=1e-5)
    assert np.allclose(panel.reconstructions, reconstruct_images(model, test_set.images[panel.indices]), atol=1e-6)


def test_a_hidden_panel_scores_when_first_shown(qtbot, session, test_set):
    panel = ReconstructionPanel(session)
    qtbot.addWidget(panel)
    panel.set_test_data(test_set)
    assert panel.test_scores.scores is None and not panel.test_scores.pending
    assert panel.indices.size == panel.count_spin.value()  # random samples need no scores
    with qtbot.waitSignal(panel.test_scores.ready, timeout=10_000):
        panel.show()
    assert panel.test_scores.scores.loss.shape == (len(test_set),)


def test_without_test_data_it_says_so(qtbot, session):
    panel = ReconstructionPanel(session)
    qtbot.addWidget(panel)
    assert panel.indices.size == 0 and panel.grid.count() == 0
    assert not panel.resample_button.isEnabled()


def test_scoring_runs_on_the_job_runner_and_no_other_thread_pool(qtbot, session, test_set, monkeypatch):
    from PySide6.QtCore import QThreadPool

    from vaestudio.gui.panels import reconstruction

    def no_global_pool():
        raise AssertionError("a panel used QThreadPool.globalInstance() beside the JobRunner")

    monkeypatch.setattr(QThreadPool, "globalInstance", staticmethod(no_global_pool))
    threads, real_score_images = [], reconstruction.score_images

    def scoring(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_score_images(*args, **kwargs)

    monkeypatch.setattr(reconstruction, "score_images", scoring)
    widget = ReconstructionPanel(session)
    qtbot.addWidget(widget)
    widget.show()
    with qtbot.waitSignal(widget.test_scores.ready, timeout=10_000):
        widget.set_test_data(test_set)
    assert threads == [widget.jobs.worker_thread]


def test_a_scoring_failure_is_logged_and_shown(qtbot, session, test_set, monkeypatch, caplog):
    from vaestudio.gui.panels import reconstruction
    from vaestudio.gui.widgets import dialogs

    def broken(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(reconstruction, "score_images", broken)
    widget = ReconstructionPanel(session)
    qtbot.addWidget(widget)
    widget.show()
    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=10_000) as shown:
        widget.set_test_data(test_set)
    title, message = shown.args
    assert title == "Scoring the test images failed."
    assert "RuntimeError: the disk caught fire" in message and "log" in message and "Traceback" not in message
    assert "Traceback" in caplog.text and "the disk caught fire" in caplog.text
    assert "the disk caught fire" in widget.status.text()
    for box in widget.findChildren(QMessageBox):
        box.accept()
