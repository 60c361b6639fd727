"""The sketch pad encodes what is drawn with the core's encoder and finds its nearest test images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from vaestudio.core.latent.reconstruction import (
    average_down,
    nearest_images,
    normalise_like_mnist,
)
from vaestudio.core.latent.space import decode_latents, encode_images
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.panels.sketch import CANVAS_SIDE, SketchPanel


@pytest.fixture
def panel(qtbot, session, test_set):
    widget = SketchPanel(session)
    qtbot.addWidget(widget)
    widget.resize(700, 700)
    widget.show()
    with qtbot.waitSignal(widget.test_scores.ready, timeout=10_000):
        widget.set_test_data(test_set)
    return widget


def _send(widget, kind, point: QPoint, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(point), widget.mapToGlobal(QPointF(point)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _stroke(canvas, points: list[QPoint]) -> None:
    """A mouse stroke through widget points: press, moves with the button held, release."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send(canvas, QMouseEvent.Type.MouseButtonPress, points[0], left)
    for point in points[1:]:
        _send(canvas, QMouseEvent.Type.MouseMove, point, left)
    _send(canvas, QMouseEvent.Type.MouseButtonRelease, points[-1], none)


def test_a_drawing_of_a_test_image_lands_at_its_encoded_mean(panel, qtbot, model, test_set):
    panel.mnist_box.setChecked(False)
    index = 5
    expected = encode_images(model, test_set.images[index:index + 1])
    with qtbot.waitSignal(panel.sketchEncoded) as blocker:
        panel.canvas.set_pixels(test_set.images[index].numpy())
    assert np.array_equal(panel.pixels, test_set.images[index].numpy())
    mu, logvar = blocker.args
    assert mu.shape == logvar.shape == (model.latent_dim,)
    assert np.allclose(mu, expected.mu[0], atol=1e-6) and np.allclose(logvar, expected.logvar[0], atol=1e-6)
    assert np.allclose(panel.reconstruction_preview.image(), decode_latents(model, mu)[0], atol=1e-6)
    nearest = int(panel.neighbours[0])
    assert nearest == index or np.array_equal(test_set.images[nearest], test_set.images[index])
    scores = panel.test_scores.scores
    assert np.array_equal(panel.neighbours, nearest_images(scores.mu, mu, len(panel.neighbours))[0])
    assert np.allclose(scores.mu, encode_images(model, test_set.images).mu, atol=1e-6)


def test_a_mouse_stroke_is_encoded_and_can_be_undone(panel, qtbot, model):
    canvas = panel.canvas
    side = min(canvas.width(), canvas.height())
    origin = QPoint((canvas.width() - side) // 2, (canvas.height() - side) // 2)
    points = [origin + QPoint(int(side * x), int(side * y)) for x, y in ((0.5, 0.2), (0.5, 0.5), (0.52, 0.8))]
    with qtbot.waitSignal(panel.sketchEncoded):
        _stroke(canvas, points)
    assert panel.pixels.any() and panel.mu is not None
    ink = canvas.ink()
    assert ink[CANVAS_SIDE // 2, CANVAS_SIDE // 2] > 0.9 and ink[10, 10] == 0  # on the line, and off it
    expected = encode_images(model, torch.from_numpy(panel.pixels[None])).mu[0]
    assert np.allclose(panel.mu, expected, atol=1e-6)
    assert panel.undo_button.isEnabled()
    with qtbot.waitSignal(panel.sketchCleared):
        panel.undo_button.click()
    assert canvas.is_blank() and panel.mu is None and panel.neighbour_grid.count() == 0


def test_clear_and_a_wider_brush(panel, qtbot):
    panel.mnist_box.setChecked(False)
    canvas = panel.canvas
    canvas.begin_stroke(QPointF(60, 140))
    canvas.continue_stroke(QPointF(220, 140))
    canvas.end_stroke()
    thin = int((panel.pixels > 0).sum())
    panel.clear_button.click()
    assert canvas.is_blank() and not panel.pixels.any()
    panel.brush_spin.setValue(4.0)
    canvas.begin_stroke(QPointF(60, 140))
    canvas.continue_stroke(QPointF(220, 140))
    canvas.end_stroke()
    assert int((panel.pixels > 0).sum()) > thin
    panel.undo_button.click()
    panel.undo_button.click()
    assert np.count_nonzero(panel.pixels) == thin  # back to the thin stroke, before Clear


def test_fit_like_mnist_centres_and_scales_the_drawing(panel):
    canvas = panel.canvas
    canvas.begin_stroke(QPointF(20, 20))
    canvas.continue_stroke(QPointF(20, 60))
    canvas.end_stroke()
    assert panel.mnist_box.isChecked()
    rows, columns = np.nonzero(panel.pixels > 25)
    assert rows.max() - rows.min() + 1 >= 18  # the short stroke is scaled up to the 20-pixel box
    mass = panel.pixels.astype(np.float64)
    centre = ((mass.sum(1) * np.arange(28)).sum() / mass.sum(), (mass.sum(0) * np.arange(28)).sum() / mass.sum())
    assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1
    panel.mnist_box.setChecked(False)
    assert np.array_equal(panel.pixels, average_down(canvas.ink()))
    assert panel.pixels[:10, :10].any() and not panel.pixels[14:, 14:].any()  # as drawn: top left


def test_normalising_a_blank_drawing_gives_a_blank_image():
    assert not normalise_like_mnist(np.zeros((280, 280), np.float32)).any()


def test_without_a_model_the_pad_still_draws(qtbot):
    panel = SketchPanel(ModelSession())
    qtbot.addWidget(panel)
    panel.canvas.set_pixels(np.full((28, 28), 200, np.uint8))
    assert panel.pixels.any() and panel.mu is None
    assert panel.neighbour_grid.count() == 0
