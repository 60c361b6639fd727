"""The latent map: a pyqtgraph scatter of encoded points over an optional decoded background.

One scatter holds every point (`pen=None`, `pxMode`, a brush per class from the palette),
drawn in data order so that no class hides the others by coming last; while the view pans
it blits a cached picture of them (see `map_scatter.MapScatter`). There are no grid
lines: pyqtgraph's cost as much to draw as 70,000 points. Hit testing is a numpy
nearest-point search in screen pixels, not pyqtgraph's `pointsAt`. Mouse moves are coalesced
by a 30 ms single-shot timer, so hover previews never queue up behind the cursor and always
end where it rests.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QEvent,
    QObject,
    QPoint,
    QPointF,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.latent.space import (
    DimensionProjection,
    PCAProjection,
    Projection,
    nearest_point,
)
from vaestudio.gui.explorer.map_scatter import MapScatter
from vaestudio.gui.widgets.image_preview import to_qimage

HOVER_INTERVAL_MS = 30
HOVER_SCALE = 3
PICK_MARGIN_PX = 3.0
# Ten well separated colours (matplotlib's tab10).
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def class_colour(index: int, count: int) -> QColor:
    if count <= len(CLASS_COLOURS):
        return QColor(CLASS_COLOURS[index])
    return pg.intColor(index, hues=count, values=1, maxValue=200, minValue=200)


def axis_labels(plane: Projection | None, view_title: str = "t-SNE") -> tuple[str, str]:
    """Axis titles for a plane (its latent dimensions or principal components), or for a view (t-SNE, UMAP)."""
    if isinstance(plane, PCAProjection):
        first, second = plane.explained
        return f"PC 1 ({first:.0%} of variance)", f"PC 2 ({second:.0%} of variance)"
    if isinstance(plane, DimensionProjection):
        return tuple(f"z{dimension + 1}" for dimension in plane.dimensions)
    return f"{view_title} 1 (no units)", f"{view_title} 2 (no units)"


class LatentMap(QWidget):
    """Signals carry map coordinates and the index (into the points given) of the point hit, or -1."""

    clicked = Signal(float, float, int)
    contextRequested = Signal(float, float, int, QPoint)  # a right click: map point, point hit, screen position
    hovered = Signal(float, float, int)
    hoverLeft = Signal()
    fetchRequested = Signal()  # buttons of the "no data" banner
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot_item = self.plot.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.view_box.setAspectLocked(True, ratio=1.0)  # equal units: one prior std is as long either way
        self.legend = self.plot_item.addLegend(offset=(8, 8), brush=pg.mkBrush(255, 255, 255, 210),
                                               pen=pg.mkPen(160, 160, 160))
        self.legend.setVisible(False)  # until there are classes to show
        self.background = pg.ImageItem(axisOrder="row-major")
        self.background.setZValue(-10)
        self.background.setVisible(False)
        self.plot_item.addItem(self.background)
        # The marker of the chosen point: a black cross over a wider white one, visible on any background.
        self.markers = [MapScatter(size=size, symbol="+", pen=pg.mkPen(colour, width=width), brush=None)
                        for size, colour, width in ((22, "#ffffff", 5), (20, "#000000", 2))]
        for z, marker in enumerate(self.markers):
            marker.setZValue(20 + z)
            self.plot_item.addItem(marker)
        # Overlays drawn by the other panels: the interpolation path and the sketch's posterior.
        self.path = pg.PlotDataItem(pen=pg.mkPen("#111111", width=2), symbol="o", symbolSize=6,
                                    symbolBrush="#ffffff", symbolPen=pg.mkPen("#111111"))
        self.sketch_ellipse = pg.PlotCurveItem(pen=pg.mkPen("#d6336c", width=2))
        self.sketch_centre = MapScatter(size=14, symbol="star", pen=pg.mkPen("#ffffff"), brush="#d6336c")
        for z, item in enumerate((self.path, self.sketch_ellipse, self.sketch_centre)):
            item.setZValue(15 + z)
            self.plot_item.addItem(item, ignoreBounds=True)
        self.message = pg.TextItem(color="#404040", fill=pg.mkBrush(255, 255, 255, 220), anchor=(0.5, 0.5))
        self.message.setZValue(30)
        self.message.setVisible(False)
        self.plot_item.addItem(self.message, ignoreBounds=True)
        self.hover_label = QLabel(self.plot.viewport())
        self.hover_label.setStyleSheet("border: 1px solid #808080; background: black;")
        self.hover_label.hide()
        self.hover_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.scatter = MapScatter(pen=None, pxMode=True, symbol="o", antialias=False)
        self.plot_item.addItem(self.scatter)
        self._class_names: list[str] = []
        self._colours: list[str] | None = None
        self.points = np.zeros((0, 2), np.float32)
        self.labels = np.zeros(0, np.int64)
        self.snap_to_points = False
        self._point_size = 4.0
        self._opacity = 0.7
        self._hover_scene_pos: QPointF | None = None
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_INTERVAL_MS)
        self._hover_timer.timeout.connect(self._emit_hover)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_click)
        self.plot.viewport().installEventFilter(self)
        self.view_box.sigRangeChanged.connect(self._place_message)
        self.view_moved_by_hand = False  # a pan or zoom by the person, kept when new points arrive
        self.view_box.sigRangeChangedManually.connect(lambda *_: setattr(self, "view_moved_by_hand", True))
        self.banner = QFrame()
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.fetch_button = QPushButton("Fetch")
        self.open_button = QPushButton("Open dataset folder…")
        self.fetch_button.clicked.connect(self.fetchRequested)
        self.open_button.clicked.connect(self.openRequested)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.fetch_button)
        banner_layout.addWidget(self.open_button)
        self.banner.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.plot, 1)

    # -- content ---------------------------------------------------------------------------

    def set_points(self, points: np.ndarray, labels: np.ndarray, class_names: list[str],
                   keep_view: bool = False, colours: list[str] | None = None) -> None:
        """Show points (N, 2) coloured by integer label (or group: a factor's level or range), with
        `colours` (one per name) or the class colours. With keep_view, a pan or zoom the person
        made stays; a view nobody moved frames the new points."""
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        present = int(self.labels.max()) + 1 if len(self.labels) else 0
        names = list(class_names) + [str(i) for i in range(len(class_names), present)]
        colours = list(colours) if colours is not None and len(colours) >= len(names) else None
        if names != self._class_names or colours != self._colours:
            self._class_names, self._colours = names, colours
            self.legend.clear()
            for label, name in enumerate(names):  # a larger, opaque sample than the points themselves
                self.legend.addItem(pg.ScatterPlotItem(pen=None, size=9, brush=self._colour(label)), name)
            self.legend.setVisible(bool(names))
        self.scatter.set_class_points(self.points[:, 0], self.points[:, 1], self.labels, self._brushes(),
                                      self._point_size)
        if not (keep_view and self.view_moved_by_hand):
            self.reset_view()

    def _brushes(self) -> list:
        """One brush per class, at the chosen opacity, indexed by label."""
        count = max(len(self._class_names), 1)
        brushes = []
        for label in range(count):
            colour = self._colour(label)
            colour.setAlphaF(self._opacity)
            brushes.append(pg.mkBrush(colour))
        return brushes

    def _colour(self, label: int) -> QColor:
        if self._colours is not None:
            return QColor(self._colours[label])
        return class_colour(label, max(len(self._class_names), 1))

    def clear_points(self) -> None:
        self.set_points(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), [], keep_view=True)

    def set_point_style(self, size: float, opacity: float) -> None:
        self._point_size, self._opacity = float(size), float(opacity)
        self._apply_style()

    def _apply_style(self) -> None:
        if len(self.points):
            self.scatter.set_class_style(self._brushes(), self._point_size)

    def set_axis_labels(self, x_label: str, y_label: str) -> None:
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)

    def set_background(self, picture: np.ndarray | None, extent: float = 0.0, cells: int = 1) -> None:
        """A decoded grid picture (rows first from the top) covering [-extent, extent]^2 cell centres."""
        if picture is None:
            self.background.setVisible(False)
            return
        step = 2.0 * extent / max(cells - 1, 1)
        self.background.setImage(np.ascontiguousarray(picture[::-1]), levels=(0.0, 1.0), autoLevels=False)
        side = 2.0 * extent + step
        self.background.setRect(QRectF(-extent - step / 2, -extent - step / 2, side, side))
        self.background.setVisible(True)

    def set_marker(self, x: float | None, y: float | None = None) -> None:
        """Mark the last chosen position (None clears it)."""
        for marker in self.markers:
            marker.setData([] if x is None else [x], [] if x is None else [y])

    def set_path(self, points: np.ndarray | None) -> None:
        """A path of map points (N, 2), e.g. an interpolation; None clears it."""
        points = np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64)
        self.path.setData(points[:, 0], points[:, 1])

    def set_sketch(self, centre: np.ndarray | None, outline: np.ndarray | None = None) -> None:
        """The sketch's posterior mean (2,) and the outline (N, 2) of its spread (none on a t-SNE or UMAP
        view); None clears both."""
        if centre is None:
            self.sketch_centre.setData([], [])
            self.sketch_ellipse.setData([], [])
            return
        self.sketch_centre.setData([float(centre[0])], [float(centre[1])])
        outline = np.zeros((0, 2)) if outline is None else outline
        self.sketch_ellipse.setData(outline[:, 0], outline[:, 1])

    def set_message(self, text: str | None) -> None:
        """A message in the middle of the map (e.g. why there are no points); None hides it."""
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self._place_message()

    def show_banner(self, text: str, details: str = "", fetch_title: str | None = None) -> None:
        """A bar above the map saying why it has no points, with Fetch (if `fetch_title`) and Open buttons."""
        self.banner_text.setText(text)
        self.banner_text.setToolTip(details)
        self.fetch_button.setVisible(fetch_title is not None)
        self.fetch_button.setEnabled(True)
        self.fetch_button.setText(fetch_title or "")
        self.banner.show()

    def hide_banner(self) -> None:
        self.banner.hide()

    def _place_message(self, *args) -> None:
        if self.message.isVisible():
            (x0, x1), (y0, y1) = self.view_box.viewRange()
            self.message.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    # -- view ------------------------------------------------------------------------------

    def reset_view(self) -> None:
        """Frame the points (the middle 99.8% of them, so a few outliers do not shrink the rest)."""
        self.view_moved_by_hand = False
        if len(self.points) == 0:
            self.view_box.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0.02)
            return
        ordered = np.sort(self.points.astype(np.float64), axis=0)  # the 0.1st and 99.9th percentiles (np.percentile's first call: 7 ms)
        last = len(ordered) - 1
        low, high = ordered[round(0.001 * last)], ordered[round(0.999 * last)]
        if self.background.isVisible():
            rect = self.background.mapRectToParent(self.background.boundingRect())
            low = np.minimum(low, [rect.left(), rect.top()])
            high = np.maximum(high, [rect.right(), rect.bottom()])
        self.view_box.setRange(xRange=(low[0], high[0]), yRange=(low[1], high[1]), padding=0.05)

    def view_range(self) -> list[list[float]]:
        return self.view_box.viewRange()

    def map_to_widget(self, x: float, y: float) -> QPoint:
        """The pixel of the plot's viewport that shows map point (x, y) (for tests and benchmarks)."""
        scene = self.view_box.mapViewToScene(QPointF(x, y))
        return self.plot.mapFromScene(scene)

    def point_at(self, x: float, y: float) -> int:
        """Index of the point drawn under map point (x, y), or -1 (the nearest one when snapping)."""
        pixel = np.array(self.view_box.viewPixelSize(), dtype=np.float64)
        if not np.all(np.isfinite(pixel)) or np.any(pixel <= 0):
            pixel = None
        index, distance = nearest_point(self.points, np.array([x, y]), pixel)
        if self.snap_to_points or distance <= self._point_size / 2 + PICK_MARGIN_PX:
            return index
        return -1

    # -- mouse -----------------------------------------------------------------------------

    def _inside(self, scene_pos: QPointF) -> bool:
        return self.view_box.sceneBoundingRect().contains(scene_pos)

    def _on_scene_click(self, event) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) \
                or not self._inside(event.scenePos()):
            return
        point = self.view_box.mapSceneToView(event.scenePos())
        index = self.point_at(point.x(), point.y())
        if event.button() == Qt.MouseButton.RightButton:
            event.accept()
            self.contextRequested.emit(point.x(), point.y(), index, event.screenPos().toPoint())
        else:
            self.clicked.emit(point.x(), point.y(), index)

    def _on_scene_move(self, scene_pos: QPointF) -> None:
        if not self._inside(scene_pos):
            self._leave()
            return
        self._hover_scene_pos = QPointF(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _emit_hover(self) -> None:
        if self._hover_scene_pos is None:
            return
        point = self.view_box.mapSceneToView(self._hover_scene_pos)
        self.hovered.emit(point.x(), point.y(), self.point_at(point.x(), point.y()))

    def _leave(self) -> None:
        self._hover_timer.stop()
        if self._hover_scene_pos is not None:
            self._hover_scene_pos = None
            self.hover_label.hide()
            self.hoverLeft.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # Moves are read here, not from pyqtgraph's sigMouseMoved, which drops moves closer
        # than 10 ms apart, the last one (where the cursor rests) included.
        if watched is self.plot.viewport():
            if event.type() == QEvent.Type.MouseMove:
                self._on_scene_move(self.plot.mapToScene(event.position().toPoint()))
            elif event.type() == QEvent.Type.Leave:
                self._leave()
        return False

    def show_hover_image(self, image: np.ndarray) -> None:
        """A small decoded preview beside the cursor (flipped to stay inside the map)."""
        if self._hover_scene_pos is None:
            return
        pixmap = QPixmap.fromImage(to_qimage(image)).scaled(
            image.shape[1] * HOVER_SCALE, image.shape[0] * HOVER_SCALE, Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation)
        self.hover_label.setPixmap(pixmap)
        self.hover_label.adjustSize()
        cursor = self.plot.mapFromScene(self._hover_scene_pos)
        size, area = self.hover_label.size(), self.plot.viewport().rect()
        x = cursor.x() + 16 if cursor.x() + 16 + size.width() <= area.right() else cursor.x() - 16 - size.width()
        y = cursor.y() + 16 if cursor.y() + 16 + size.height() <= area.bottom() else cursor.y() - 16 - size.height()
        self.hover_label.move(x, y)
        self.hover_label.show()
        self.hover_label.raise_()
