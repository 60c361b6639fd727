"""The latent map's scatter: points styled by class, drawn from a cached picture while the view pans.

pyqtgraph's `ScatterPlotItem` is kept for everything it does well (the symbol atlas, exports,
bounds); three of its costs on the GUI thread are cut here:

- **Styles by class.** pyqtgraph makes a brush and looks its symbol up in the atlas point by
  point (0.5-1 s for 70,000 points). `set_class_points` looks each class up once, and the
  same points with new coordinates (the map re-encoded at an epoch end) only get new x, y.
- **Panning.** Placing 70,000 symbol pixmaps costs some 10 ms a frame whatever their size; a
  pan moves every point by the same pixel offset. So the points are rendered once into a
  picture of the part of the view (plus a margin on each side) that holds points, and that
  picture is drawn shifted while the view pans. It is rendered again only when the pan
  brings points into view that the picture does not hold (never, when it holds them all),
  or after a zoom, new data or a new style.
- **Bounds.** pyqtgraph forgets the data bounds at every view change and recomputes them
  over all points twice a frame; in pixel mode they do not depend on the view.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter, QPixmap

Box = tuple[float, float, float, float]  # left, top, right, bottom, in view pixels


def _intersection(a: Box, b: Box) -> Box | None:
    left, top, right, bottom = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (left, top, right, bottom) if left < right and top < bottom else None


class _PanCache(NamedTuple):
    pixmap: QPixmap
    scale: tuple[float, float]  # the item-to-view scale it was drawn at
    shift: tuple[float, float]  # ... and translation; the boxes below are in view pixels at this shift
    origin: tuple[int, int]     # where the picture's top-left corner goes
    region: Box                 # the part of the view the picture holds every point of
    points_box: Box | None      # where points are at all (their symbols included)

    def covers(self, shift: tuple[float, float], width: int, height: int) -> bool:
        """Whether the view, moved to `shift`, shows only points the picture holds."""
        dx, dy = round(shift[0] - self.shift[0]), round(shift[1] - self.shift[1])
        if self.points_box is None:
            return True
        shown = _intersection((-dx, -dy, width - dx, height - dy), self.points_box)
        region = self.region
        return shown is None or (shown[0] >= region[0] and shown[1] >= region[1]
                                 and shown[2] <= region[2] and shown[3] <= region[3])


class MapScatter(pg.ScatterPlotItem):
    """A scatter that leaves clicks and hovers to the map (pyqtgraph's per-item search is slow),
    styles points by class and blits a cached picture of them while the view pans."""

    MARGIN = 400  # pixels drawn beyond each edge of the view (where there are points)...
    MAX_PIXELS = 16_000_000  # ...halved while the picture would hold more device pixels than this
    use_pan_cache = True

    def __init__(self, *args, **kwargs) -> None:
        self._cache: _PanCache | None = None
        self._classes: np.ndarray | None = None  # (N,) class of each point, for `set_class_points`
        self._class_brushes = np.empty(0, dtype=object)
        super().__init__(*args, **kwargs)

    def invalidate(self) -> None:
        self._cache = None
        super().invalidate()

    # -- styles by class -------------------------------------------------------------------

    def set_class_points(self, x: np.ndarray, y: np.ndarray, classes: np.ndarray, brushes: list, size: float) -> None:
        """Points styled by their class alone: brush `brushes[classes[i]]`, one size for all."""
        classes = np.asarray(classes, dtype=np.intp)
        if (self._classes is not None and len(classes) == len(self.data) and np.array_equal(classes, self._classes)
                and size == self.opts["size"] and len(brushes) == len(self._class_brushes)
                and all(new == old for new, old in zip(brushes, self._class_brushes))):
            self.data["x"], self.data["y"] = x, y
            self.prepareGeometryChange()
            self.informViewBoundsChanged()
            self.bounds = [None, None]
            self.invalidate()
            self.sigPlotChanged.emit(self)
            return
        self._classes = classes
        self._class_brushes = np.array(brushes, dtype=object)
        self.setSize(size, update=False)
        self.setData(x=x, y=y)

    def set_class_style(self, brushes: list, size: float) -> None:
        """New brushes (one per class) and size for the points of `set_class_points`."""
        self._class_brushes = np.array(brushes, dtype=object)
        self.setSize(size, update=False)
        self.data["sourceRect"] = 0
        self.updateSpots()

    def updateSpots(self, dataSet=None) -> None:  # noqa: N802, N803 (pyqtgraph override)
        data = self.data if dataSet is None else dataSet
        classes = self._classes
        if (classes is None or len(classes) != len(data) or len(data) != len(self.data)
                or not (self.opts["pxMode"] and self.opts["useCache"])):
            super().updateSpots(dataSet)
            return
        data["brush"] = self._class_brushes[classes]  # per point, for exports (drawn symbol by symbol)
        missing = data["sourceRect"]["w"] == 0
        if missing.any():
            for label in np.flatnonzero(np.bincount(classes[missing])):
                members = missing & (classes == label)
                style = self._style(["symbol", "size", "pen", "brush"], data=data, idx=np.flatnonzero(members)[:1])
                data["sourceRect"][members] = self.fragmentAtlas[list(zip(*style))][0]
            self._maybeRebuildAtlas()
            self.invalidate()
        self._updateMaxSpotSizes(data=data)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph override)
        bounds = self.bounds
        super().viewTransformChanged()
        if self.opts["pxMode"]:
            self.bounds = bounds  # in data units, whatever the view; the pixel padding is added per call

    # -- painting --------------------------------------------------------------------------

    def paint(self, p, option, widget) -> None:
        transform = p.transform()
        if (not self.use_pan_cache or widget is None or self._exportOpts is not False
                or not (self.opts["pxMode"] and self.opts["useCache"]) or transform.m12() != 0
                or transform.m21() != 0 or len(self.data) == 0 or not hasattr(self, "_pixmapFragments")
                or self.fragmentAtlas.devicePixelRatio() != widget.devicePixelRatioF()):
            super().paint(p, option, widget)
            return
        scale, shift = (transform.m11(), transform.m22()), (transform.m31(), transform.m32())
        cache, size = self._cache, widget.size()
        if (cache is None or not all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(cache.scale, scale))
                or cache.pixmap.devicePixelRatio() != widget.devicePixelRatioF()
                or not cache.covers(shift, size.width(), size.height())):  # the scale compared up to rounding noise
            cache = self._cache = self._render(scale, shift, size.width(), size.height(), widget.devicePixelRatioF())
        p.resetTransform()
        # Whole pixels: each point lands within half a pixel of where pyqtgraph would put it.
        p.drawPixmap(QPoint(round(shift[0] - cache.shift[0]) + cache.origin[0],
                            round(shift[1] - cache.shift[1]) + cache.origin[1]), cache.pixmap)

    def _render(self, scale: tuple[float, float], shift: tuple[float, float], width: int, height: int,
                ratio: float) -> _PanCache:
        x = self.data["x"] * scale[0] + shift[0]
        y = self.data["y"] * scale[1] + shift[1]
        drawable = np.isfinite(x) & np.isfinite(y)
        reach = float(self.data["sourceRect"]["w"].max()) / ratio  # a symbol's size, in view pixels
        points_box = None
        if drawable.any():
            points_box = (float(x[drawable].min()) - reach, float(y[drawable].min()) - reach,
                          float(x[drawable].max()) + reach, float(y[drawable].max()) + reach)
        margin = self.MARGIN
        while margin > 50 and (width + 2 * margin) * (height + 2 * margin) * ratio ** 2 > self.MAX_PIXELS:
            margin //= 2
        region = _intersection((-margin, -margin, width + margin, height + margin),
                               points_box or (0, 0, 1, 1)) or (0, 0, 1, 1)
        origin = (math.floor(region[0]), math.floor(region[1]))
        size = (max(1, math.ceil(region[2]) - origin[0]), max(1, math.ceil(region[3]) - origin[1]))
        pixmap = QPixmap(round(size[0] * ratio), round(size[1] * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        x, y = x - origin[0], y - origin[1]
        inside = drawable & (x > -reach) & (x < size[0] + reach) & (y > -reach) & (y < size[1] + reach)
        sources = self.data["sourceRect"][inside]
        self._pixmapFragments.resize(sources.size)
        fragments = self._pixmapFragments.ndarray()
        fragments[:, 0], fragments[:, 1] = x[inside], y[inside]
        fragments[:, 2:6] = np.frombuffer(sources, dtype=int).reshape((-1, 4))
        fragments[:, 6:10] = [1 / ratio, 1 / ratio, 0.0, 1.0]
        painter = QPainter(pixmap)
        painter.drawPixmapFragments(*self._pixmapFragments.drawargs(), self.fragmentAtlas.pixmap)
        painter.end()
        return _PanCache(pixmap, scale, shift, origin, region, points_box)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph override)
        ev.ignore()

    def hoverEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph override)
        return
