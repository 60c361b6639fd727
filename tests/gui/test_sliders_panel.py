"""Each slider writes exactly its own latent coordinate; the order and the traversal follow the KL."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from vaestudio.core.latent.space import decode_latents, encode_images
from vaestudio.core.models.history import EpochResult, EvaluationResult, TrainingHistory
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.networks import ModelConfig, build_model
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.panels.sliders import TRAVERSAL_VALUES, SlidersPanel

KL = [0.01, 2.0, 0.5, 0.0]  # dimensions 1, 2, 0, 3 by information; 0 and 3 collapsed


def _history(kl_per_dim) -> TrainingHistory:
    test = EvaluationResult(100.0, 95.0, 5.0, list(kl_per_dim), 2, images=64)
    return TrainingHistory(epochs=[EpochResult(1, 1, 101.0, 96.0, 5.0, test, 1.0, 100.0)])


@pytest.fixture
def session(model):
    session = ModelSession()
    session.load_saved(SavedModel(model, TrainingConfig(model=model.config), history=_history(KL)))
    return session


TIMEOUT = 10_000


@pytest.fixture
def panel(qtbot, session, test_set):
    widget = SlidersPanel(session)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.traversalShown, timeout=TIMEOUT):  # the first traversal is a background job
        widget.set_test_data(test_set)
    return widget


def test_moving_a_slider_changes_exactly_that_coordinate(panel, qtbot, model, test_set):
    panel.start_from_test_image(6)
    start = encode_images(model, test_set.images[6:7]).mu[0]
    assert np.allclose(panel.z, start)
    with qtbot.waitSignal(panel.latentChanged) as blocker:
        panel.sliders[2].setValue(150)
    changed = np.flatnonzero(panel.z != start)
    assert changed.tolist() == [2] and panel.z[2] == pytest.approx(1.5)
    assert np.array_equal(blocker.args[0], panel.z)
    assert np.allclose(panel.preview.image(), decode_latents(model, panel.z)[0], atol=1e-6)
    assert panel.sliders[0].value() == int(round(float(np.clip(start[0], -3, 3)) * 100))


def test_keyboard_steps_move_one_coordinate(panel, qtbot):
    panel.show()
    before = panel.z.copy()
    slider = panel.sliders[1]
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert np.flatnonzero(panel.z != before).tolist() == [1]
    assert panel.z[1] == pytest.approx(slider.singleStep() / 100)


def test_coordinates_beyond_the_slider_range_are_kept(panel, model):
    far = np.array([5.0, -4.0, 0.25, 0.0], np.float32)
    panel.use_latent(far)
    assert panel.sliders[0].value() == 300 and panel.sliders[1].value() == -300
    panel.sliders[3].setValue(-200)
    assert np.allclose(panel.z, [5.0, -4.0, 0.25, -2.0])
    panel.reset_button.click()
    assert np.allclose(panel.z, far) and panel.sliders[3].value() == 0


def test_sliders_are_ordered_by_kl_and_collapsed_dimensions_marked(panel):
    assert panel.order.tolist() == [1, 2, 0, 3]
    assert panel.inactive_dimensions() == [0, 3]
    layout = panel.slider_area.widget().layout()
    rows = [layout.itemAtPosition(row, 1).widget() for row in range(4)]
    assert [slider.dimension for slider in rows] == [1, 2, 0, 3]
    assert all(slider.minimum() == -300 and slider.maximum() == 300 for slider in rows)
    names = [layout.itemAtPosition(row, 0).widget().text() for row in range(4)]
    assert ["inactive" in name for name in names] == [False, False, True, True]
    assert [re.search(r"z\d+", name).group() for name in names] == ["z2", "z3", "z1", "z4"]  # numbered from 1
    assert [label.split(" ")[0] for label in panel.traversal._row_labels] == ["z2", "z3", "z1", "z4"]
    assert panel.traversal.dimmed_rows() == [False, False, True, True]


def test_the_traversal_sweeps_each_dimension_from_the_current_point(panel, qtbot, model):
    with qtbot.waitSignal(panel.traversalShown, timeout=TIMEOUT):
        panel.use_latent(np.array([0.5, -0.5, 1.0, 0.0], np.float32))
    columns = len(TRAVERSAL_VALUES)
    images = panel.traversal.images()
    assert images.shape == (4 * columns, 28, 28)
    for row, dimension in enumerate(panel.order):
        z = np.repeat(panel.z[None], columns, axis=0)
        z[:, dimension] = TRAVERSAL_VALUES
        assert np.allclose(images[row * columns:(row + 1) * columns], decode_latents(model, z), atol=1e-6)
    assert TRAVERSAL_VALUES[0] == -3 and TRAVERSAL_VALUES[-1] == 3


def test_the_traversal_follows_a_drag_once_it_stops(panel, qtbot, model):
    before = panel.traversal.images()
    with qtbot.waitSignal(panel.traversalShown, timeout=TIMEOUT):
        panel.sliders[1].setValue(250)
        assert panel.traversal_timer.isActive()
    assert not panel.traversal_timer.isActive()
    assert not np.allclose(before, panel.traversal.images())
    z = np.repeat(panel.z[None], len(TRAVERSAL_VALUES), axis=0)
    z[:, 2] = TRAVERSAL_VALUES  # row 1 is dimension 2; dimension 1 is held at 2.5
    assert np.allclose(panel.traversal.images()[len(TRAVERSAL_VALUES):2 * len(TRAVERSAL_VALUES)],
                       decode_latents(model, z), atol=1e-6)


def test_new_kl_reorders_the_sliders_and_keeps_the_point(panel, session):
    panel.use_latent(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    held = panel.sliders[2]
    session.history = _history([0.0, 0.0, 0.3, 3.0])
    session.weightsUpdated.emit()
    assert panel.order.tolist() == [3, 2, 0, 1]
    layout = panel.slider_area.widget().layout()
    assert [layout.itemAtPosition(row, 1).widget().dimension for row in range(4)] == [3, 2, 0, 1]
    assert panel.sliders[2] is held  # moved, not rebuilt: a drag in progress is not cut off
    assert np.allclose(panel.z, [0.1, 0.2, 0.3, 0.4])
    assert panel.sliders[3].value() == 40
    assert panel.inactive_dimensions() == [0, 1] and "inactive" in layout.itemAtPosition(3, 0).widget().text()


def test_without_kl_or_test_data_the_sliders_start_from_zero(qtbot, model):
    session = ModelSession()
    session.load_saved(SavedModel(model, TrainingConfig(model=model.config)))
    panel = SlidersPanel(session)
    qtbot.addWidget(panel)
    qtbot.waitSignal(panel.traversalShown, timeout=TIMEOUT).wait()  # delivered by the event loop, not before
    assert panel.order.tolist() == [0, 1, 2, 3] and panel.inactive_dimensions() == []
    assert np.array_equal(panel.z, np.zeros(4)) and not panel.test_button.isEnabled()
    assert np.allclose(panel.preview.image(), decode_latents(model, np.zeros(4))[0], atol=1e-6)
    assert "KL unknown" in panel.traversal_label.text()


def test_many_moves_while_the_runner_is_busy_make_one_traversal_of_the_latest_point(panel, qtbot, model,
                                                                                     monkeypatch):
    import threading

    from vaestudio.gui.jobs import Priority
    from vaestudio.gui.panels import sliders

    grids, real_decode = [], sliders.decode_latents

    def decode(network, z):
        if np.asarray(z).reshape(-1, 4).shape[0] > 1:
            grids.append(np.array(z))
        return real_decode(network, z)

    monkeypatch.setattr(sliders, "decode_latents", decode)
    started, release = threading.Event(), threading.Event()
    panel.jobs.submit("t-SNE", lambda cancel, report: (started.set(), release.wait(TIMEOUT / 1000)),
                      priority=Priority.BACKGROUND)
    assert started.wait(TIMEOUT / 1000)
    for value in range(-200, 201, 10):  # 41 moves, each followed by a traversal request
        panel.sliders[1].setValue(value)
        panel.update_traversal()
    with qtbot.waitSignal(panel.traversalShown, timeout=TIMEOUT):
        release.set()
    assert len(grids) == 1  # one decode of the traversal, not 41...
    assert np.all(grids[0][len(TRAVERSAL_VALUES):, 1] == np.float32(2.0))  # ...of the latest point
    expected = np.repeat(panel.z[None], len(TRAVERSAL_VALUES), axis=0)
    expected[:, 1] = TRAVERSAL_VALUES  # row 0 is dimension 1, swept; the others held at the latest point
    assert panel.z[1] == pytest.approx(2.0)
    assert np.allclose(panel.traversal.images()[:len(TRAVERSAL_VALUES)], real_decode(model, expected), atol=1e-6)


def test_the_traversal_shows_the_rows_that_fit_at_whole_zoom_and_says_how_many_are_left_out(qtbot, test_set):
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", 20, 32)).eval()
    session = ModelSession()
    session.load_saved(SavedModel(model, TrainingConfig(model=model.config)))
    widget = SlidersPanel(session)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.traversalShown, timeout=TIMEOUT):
        widget.set_test_data(test_set)
    assert widget.traversal.rows == 20 and widget.minimumSizeHint().height() <= 300  # hidden: all, yet never taller
    widget.resize(1100, 330)  # the room it has under the map at 1280x800
    with qtbot.waitSignal(widget.traversalShown, timeout=TIMEOUT):
        widget.show()
    qtbot.waitUntil(lambda: widget.traversal.rows == widget._fitting_rows(), timeout=TIMEOUT)
    rows = widget.traversal.rows
    assert 3 <= rows < 20 and widget.traversal.scale() >= 1 and float(widget.traversal.scale()).is_integer()
    assert f"The {20 - rows} least informative dimensions are not shown" in widget.traversal_label.text()
    with qtbot.waitSignal(widget.traversalShown, timeout=TIMEOUT):  # taller: more rows, after a pause
        widget.resize(1100, 700)
    qtbot.waitUntil(lambda: widget.traversal.rows == widget._fitting_rows(), timeout=TIMEOUT)
    assert widget.traversal.rows > rows
