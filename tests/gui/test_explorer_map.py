"""The latent map widget on its own: the pan cache draws what pyqtgraph draws, picking, hover throttling."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from vaestudio.gui.explorer import latent_map as latent_map_module
from vaestudio.gui.explorer.latent_map import LatentMap
from vaestudio.gui.widgets.image_preview import crisp_rect


@pytest.fixture
def latent_map(qtbot):
    widget = LatentMap()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    qtbot.waitExposed(widget)
    rng = np.random.default_rng(0)
    widget.set_point_style(5, 0.7)
    widget.set_points(rng.normal(size=(3000, 2)), rng.integers(0, 10, 3000), [str(d) for d in range(10)])
    return widget


def rendered(widget: LatentMap) -> np.ndarray:
    image = widget.plot.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.width(), 4)[..., :3].copy()


def blurred(image: np.ndarray, radius: int = 2) -> np.ndarray:
    padded = np.pad(image.astype(float), ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    side = 2 * radius + 1
    total = sum(padded[dy:dy + image.shape[0], dx:dx + image.shape[1]] for dy in range(side) for dx in range(side))
    return total / side ** 2


def test_panning_from_the_cache_draws_what_pyqtgraph_draws(latent_map) -> None:
    rendered(latent_map)
    before = latent_map.scatter._cache
    latent_map.view_box.translateBy(x=0.37, y=-0.21)  # within the cached margin: a shifted blit
    cached = rendered(latent_map)
    assert before is not None and latent_map.scatter._cache is before
    latent_map.scatter.use_pan_cache = False  # pyqtgraph's own paint
    latent_map.scatter.update()
    direct = rendered(latent_map)
    # Points land within a pixel of pyqtgraph's places (the picture moves by whole pixels) and
    # blend in another order: compared blurred, the two agree far better than with a 1-pixel shift.
    assert np.abs(blurred(cached) - blurred(direct)).mean() < 0.6 * np.abs(blurred(np.roll(direct, 1, axis=1))
                                                                           - blurred(direct)).mean()
    assert (direct != 255).any(axis=2).mean() > 0.05  # and there is something drawn


def test_zoom_and_new_points_render_the_cache_again(latent_map) -> None:
    rendered(latent_map)
    first = latent_map.scatter._cache
    latent_map.view_box.scaleBy((0.5, 0.5))
    rendered(latent_map)
    assert latent_map.scatter._cache is not first
    zoomed = latent_map.scatter._cache
    latent_map.set_points(np.zeros((1, 2)), np.zeros(1, np.int64), ["only"], keep_view=True)
    assert latent_map.scatter._cache is None
    rendered(latent_map)
    assert latent_map.scatter._cache is not zoomed


def test_point_at_picks_within_the_symbol_and_snaps_when_asked(latent_map) -> None:
    x, y = latent_map.points[42]
    assert latent_map.point_at(float(x), float(y)) == 42
    far = latent_map.points.max(axis=0) + 50
    assert latent_map.point_at(*far) == -1
    latent_map.snap_to_points = True
    assert latent_map.point_at(*far) >= 0


def test_hover_moves_are_coalesced(latent_map, qtbot) -> None:
    seen = []
    latent_map.hovered.connect(lambda x, y, index: seen.append((x, y)))
    viewport = latent_map.plot.viewport()
    for step in range(20):
        QTest.mouseMove(viewport, latent_map.map_to_widget(-1 + step * 0.05, 0.5))
    qtbot.waitUntil(lambda: len(seen) >= 1)
    last = latent_map.view_box.mapSceneToView(latent_map.plot.mapToScene(latent_map.map_to_widget(-1 + 19 * 0.05, 0.5)))
    with qtbot.assertNotEmitted(latent_map.hovered, wait=2 * latent_map_module.HOVER_INTERVAL_MS):
        pass
    assert len(seen) < 20
    assert seen[-1] == pytest.approx((last.x(), last.y()))


def test_background_picture_covers_the_grid_cells_with_the_top_row_up(latent_map) -> None:
    picture = np.zeros((3 * 28, 3 * 28), np.float32)
    picture[:28, :28] = 1.0  # the top-left tile
    latent_map.set_background(picture, extent=2.0, cells=3)
    rect = latent_map.background.mapRectToParent(latent_map.background.boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((-3.0, 3.0))
    assert (rect.top(), rect.bottom()) == pytest.approx((-3.0, 3.0))
    # Row 0 of the item is drawn at the bottom (y up), so the top-left tile is its last rows.
    assert latent_map.background.image[-1, 0] == 1.0 and latent_map.background.image[0, 0] == 0.0


def test_crisp_rect_uses_whole_pixel_scales() -> None:
    from PySide6.QtCore import QRect, QSize

    rect = crisp_rect(QSize(28, 28), QRect(0, 0, 200, 150))
    assert rect.width() == rect.height() == 140 and rect.x() == 30 and rect.y() == 5
    small = crisp_rect(QSize(28, 28), QRect(0, 0, 20, 20))
    assert small.width() == 20


def test_points_styled_by_class_look_as_with_pyqtgraphs_brush_per_point(qtbot) -> None:
    import pyqtgraph as pg

    widget = LatentMap()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    rng = np.random.default_rng(1)
    points, labels, names = rng.normal(size=(400, 2)), rng.integers(0, 3, 400), ["a", "b", "c"]
    widget.set_points(points, labels, names)
    widget.view_box.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0)
    widget.scatter.use_pan_cache = False
    reference = pg.ScatterPlotItem(pen=None, pxMode=True, symbol="o", antialias=False)
    widget.plot_item.addItem(reference)

    def compare(points: np.ndarray, size: float, opacity: float) -> None:
        brushes = []
        for label in labels:
            colour = latent_map_module.class_colour(int(label), len(names))
            colour.setAlphaF(opacity)
            brushes.append(pg.mkBrush(colour))
        reference.setData(x=points[:, 0], y=points[:, 1], brush=brushes, size=size)
        reference.setVisible(True)
        widget.scatter.setVisible(False)
        expected = rendered(widget)
        reference.setVisible(False)
        widget.scatter.setVisible(True)
        drawn = rendered(widget)
        assert (drawn != 255).any(axis=2).mean() > 0.02
        np.testing.assert_array_equal(drawn, expected)
        assert [brush.color().getRgb() for brush in widget.scatter.data["brush"]] == [
            brush.color().getRgb() for brush in brushes]  # per point too, for the SVG export

    compare(points, 4.0, 0.7)
    moved = points + 0.5  # the same points re-encoded: new places only
    widget.set_points(moved, labels, names, keep_view=True)
    compare(moved, 4.0, 0.7)
    widget.set_point_style(7, 0.4)
    compare(moved, 7.0, 0.4)
