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


def matches_pyqtgraph(widget: LatentMap) -> bool:
    """The map as drawn from the cached picture agrees with pyqtgraph's own drawing (see the test above)."""
    cached = rendered(widget)
    widget.scatter.use_pan_cache = False
    widget.scatter.update()
    direct = rendered(widget)
    widget.scatter.use_pan_cache = True
    widget.scatter.update()
    shifted = np.abs(blurred(np.roll(direct, 1, axis=1)) - blurred(direct)).mean()
    return (direct != 255).any(axis=2).mean() > 0.01 and np.abs(blurred(cached) - blurred(direct)).mean() < 0.6 * shifted


def settled_pan(widget: LatentMap) -> float:
    """Pan by a pixel once (pyqtgraph settles the aspect-locked range at the first pan); the data units per pixel."""
    widget.view_box.translateBy(x=widget.view_box.viewPixelSize()[0])
    rendered(widget)
    return widget.view_box.viewPixelSize()[0]


def test_a_picture_holding_every_point_serves_any_pan(latent_map) -> None:
    width = settled_pan(latent_map)
    cache = latent_map.scatter._cache
    assert cache.region == cache.points_box  # the points fit in the view and its margins: all are drawn
    for pixels in (300, 900, -1500):  # far beyond the 400-pixel margin, both ways
        latent_map.view_box.translateBy(x=pixels * width)
        assert matches_pyqtgraph(latent_map)
        assert latent_map.scatter._cache is cache


def test_a_pan_that_brings_undrawn_points_into_view_draws_them(latent_map) -> None:
    latent_map.view_box.scaleBy((0.15, 0.15))  # zoomed in: the points reach far beyond the margins
    width = settled_pan(latent_map)
    cache = latent_map.scatter._cache
    assert cache.region != cache.points_box
    latent_map.view_box.translateBy(x=200 * width)  # within the margin: the same picture
    assert matches_pyqtgraph(latent_map) and latent_map.scatter._cache is cache
    latent_map.view_box.translateBy(x=400 * width)  # beyond it, onto points not drawn yet
    assert matches_pyqtgraph(latent_map) and latent_map.scatter._cache is not cache


def test_panning_does_not_measure_the_points_again(latent_map, monkeypatch) -> None:
    rendered(latent_map)
    measured = []
    real_nanmin = np.nanmin
    monkeypatch.setattr(np, "nanmin", lambda values, *args, **kwargs: (measured.append(len(values)),
                                                                        real_nanmin(values, *args, **kwargs))[1])
    for _ in range(5):
        latent_map.view_box.translateBy(x=0.05)
        latent_map.plot.viewport().repaint()
    assert [count for count in measured if count == len(latent_map.points)] == []
    latent_map.set_points(latent_map.points + 10, latent_map.labels, [str(d) for d in range(10)])
    assert latent_map.scatter.dataBounds(0)[0] == pytest.approx(latent_map.points[:, 0].min(), abs=1e-3)


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
    last = latent_map.view_box.mapSceneToView(latent_map.plot.mapToScene(latent_map.map_to_widget(-1 + 19 * 0.05, 0.5)))
    # on a busy machine the moves take longer than the interval, so more than one may come; the last is where it rests
    qtbot.waitUntil(lambda: len(seen) >= 1 and seen[-1] == pytest.approx((last.x(), last.y())))
    with qtbot.assertNotEmitted(latent_map.hovered, wait=2 * latent_map_module.HOVER_INTERVAL_MS):
        pass
    assert len(seen) < 20


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


def test_the_imports_objects_are_kept_out_of_full_garbage_collections() -> None:
    import gc

    # the autouse fixture ran configure_application: torch's, Qt's and pyqtgraph's objects are frozen, so a full
    # collection (which once stopped a pan of the map for 330 ms) no longer walks them
    assert gc.get_freeze_count() > 100_000
