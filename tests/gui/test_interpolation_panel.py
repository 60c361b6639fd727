"""The interpolation panel decodes exactly the core's path between the endpoints it was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaestudio.core.latent.space import (
    decode_latents,
    encode_images,
    interpolate,
    slerp,
)
from vaestudio.core.models.model_files import SavedModel
from vaestudio.core.models.training_config import TrainingConfig
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.panels.interpolation import InterpolationPanel


@pytest.fixture
def panel(qtbot, session, test_set):
    widget = InterpolationPanel(session)
    widget.set_test_data(test_set)
    qtbot.addWidget(widget)
    return widget


def _use_method(panel, method: str) -> None:
    panel.method_box.setCurrentIndex(panel.method_box.findData(method))


def test_slerp_endpoints_are_the_decoded_endpoints(panel, model, test_set):
    panel.draw_test_image("A", 3)
    b = np.array([1.5, -0.5, 2.0, 0.25], np.float32)
    panel.set_endpoint("B", b)
    _use_method(panel, "slerp")
    a = encode_images(model, test_set.images[3:4]).mu[0]
    assert np.allclose(panel.endpoints["A"].z, a)
    assert np.allclose(panel.path, interpolate(a, b, panel.steps_spin.value(), "slerp"))
    assert np.allclose(panel.path[0], a, atol=1e-6) and np.allclose(panel.path[-1], b, atol=1e-6)
    endpoints = decode_latents(model, np.stack([a, b]))
    assert np.allclose(panel.strip_images[0], endpoints[0], atol=1e-5)
    assert np.allclose(panel.strip_images[-1], endpoints[1], atol=1e-5)
    shown = panel.strip.images()
    assert np.allclose(shown[0], endpoints[0], atol=1e-5) and np.allclose(shown[-1], endpoints[1], atol=1e-5)
    assert np.allclose(panel.boxes["B"].preview.image(), endpoints[1], atol=1e-5)
    # Between the endpoints the path is the great circle, not the straight line.
    middle = slerp(a, b, np.array([0.5]))[0]
    path = interpolate(a, b, 3, "slerp")
    assert np.allclose(path[1], middle, atol=1e-6) and not np.allclose(middle, (a + b) / 2, atol=1e-3)


@pytest.mark.parametrize("method", ["linear", "slerp"])
@pytest.mark.parametrize("steps", [2, 7, 64])
def test_the_strip_has_the_chosen_number_of_images(panel, qtbot, model, method, steps):
    _use_method(panel, method)
    with qtbot.waitSignal(panel.pathChanged) as blocker:
        panel.steps_spin.setValue(steps)
    path = blocker.args[0]
    assert path.shape == (steps, model.latent_dim)
    assert panel.strip_images.shape == (steps, 28, 28)
    assert panel.strip.count() == steps
    assert np.allclose(panel.strip.images(), decode_latents(model, path), atol=1e-6)


def test_map_points_set_a_then_b_and_the_wrong_size_is_ignored(panel):
    first, second = np.full(4, 0.5, np.float32), np.full(4, -1.0, np.float32)
    panel.use_latent(first)
    panel.use_latent(second)
    assert np.allclose(panel.endpoints["A"].z, first) and np.allclose(panel.endpoints["B"].z, second)
    assert panel.endpoints["A"].source == "map" and "Next map click sets <b>A</b>" in panel.target_label.text()
    panel.use_latent(np.zeros(7, np.float32))
    assert np.allclose(panel.endpoints["A"].z, first)
    panel.target_box.setCurrentIndex(panel.target_box.findData("B"))
    panel.use_latent(np.ones(4, np.float32))
    panel.use_latent(np.full(4, 2.0, np.float32))
    assert np.allclose(panel.endpoints["A"].z, first) and np.allclose(panel.endpoints["B"].z, 2.0)


def test_swap_and_reroll(panel, test_set):
    panel.draw_test_image("A", 5)
    panel.draw_from_prior("B")
    a, b = panel.endpoints["A"].z.copy(), panel.endpoints["B"].z.copy()
    panel.swap_button.click()
    assert np.allclose(panel.endpoints["A"].z, b) and np.allclose(panel.endpoints["B"].z, a)
    assert np.allclose(panel.path[0], b) and np.allclose(panel.path[-1], a)
    panel.reroll_button.click()
    assert panel.endpoints["A"].source == "prior" and not np.allclose(panel.endpoints["A"].z, b)
    assert panel.endpoints["B"].source == "test"


def test_a_test_image_of_the_chosen_class(panel, test_set):
    box = panel.boxes["A"]
    box.class_box.setCurrentIndex(box.class_box.findData(7))
    box.test_button.click()
    endpoint = panel.endpoints["A"]
    assert endpoint.source == "test" and int(test_set.labels[endpoint.detail]) == 7
    assert "class 7" in box.preview.caption()


def test_new_weights_move_test_image_endpoints_but_not_prior_draws(panel, session, model, test_set):
    panel.draw_test_image("A", 2)
    prior = panel.endpoints["B"].z.copy()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1.5)
    session.weightsUpdated.emit()
    assert np.allclose(panel.endpoints["A"].z, encode_images(model, test_set.images[2:3]).mu[0])
    assert np.allclose(panel.endpoints["B"].z, prior)
    assert np.allclose(panel.strip_images, decode_latents(model, panel.path), atol=1e-6)


def test_play_walks_along_the_path(panel, qtbot, model):
    a, b = np.zeros(4, np.float32), np.array([2.0, 0.0, -2.0, 1.0], np.float32)
    panel.set_endpoint("A", a)
    panel.set_endpoint("B", b)
    panel.play_button.click()
    for _ in range(3):
        with qtbot.waitSignal(panel.positionChanged, timeout=2000) as blocker:
            pass
        z = blocker.args[0]
        t = float(z @ b / (b @ b))
        assert 0 < t <= 1 and np.allclose(z, t * b, atol=1e-5)
        assert np.allclose(panel.frame_preview.image(), decode_latents(model, z)[0], atol=1e-5)
    assert panel.strip.highlight() is not None
    panel.play_button.click()
    assert not panel.timer.isActive()


def test_clicking_a_strip_image_shows_that_step(panel, qtbot, model):
    from PySide6.QtCore import Qt

    panel.resize(900, 500)
    panel.show()
    tile = 4
    with qtbot.waitSignal(panel.positionChanged) as blocker:
        qtbot.mouseClick(panel.strip, Qt.MouseButton.LeftButton, pos=panel.strip.tile_rect(tile).center())
    assert np.allclose(blocker.args[0], panel.path[tile])
    assert panel.strip.highlight() == tile


def test_without_a_model_nothing_is_decoded_until_one_arrives(qtbot, model):
    session = ModelSession()
    panel = InterpolationPanel(session)
    qtbot.addWidget(panel)
    assert panel.strip.count() == 0 and not panel.play_button.isEnabled()
    panel.set_endpoint("A", np.zeros(4, np.float32))
    assert panel.endpoints["A"] is None
    with qtbot.waitSignal(panel.pathChanged):
        session.load_saved(SavedModel(model, TrainingConfig(model=model.config)))
    assert panel.strip.count() == panel.steps_spin.value()
    assert not panel.boxes["A"].test_button.isEnabled()  # no test data yet: prior draws only
