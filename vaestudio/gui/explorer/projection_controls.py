"""The explorer's map settings: projection and its parameters, points, appearance, background.

Every value is remembered with QSettings (group `explorer`). The projection is remembered
separately for 2-D models (where the latent itself is the natural map) and for larger ones.
UMAP is offered always; choosing it without umap-learn installed says how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.latent.embeddings import (
    EMBEDDINGS,
    MissingPackageError,
    require_umap,
)
from vaestudio.gui.widgets.dialogs import show_error

PROJECTION_TITLES = {
    "latent": "Latent (z1, z2)",
    "dimensions": "Two latent dimensions",
    "pca": "PCA of the encoded means",
    "tsne": "t-SNE (view only)",
    "umap": "UMAP (approximate inverse)",
}
VIEWS = tuple(EMBEDDINGS)  # the projections that are views of every point shown, computed in the background
MAP_FIELDS = ("projection", "first", "second", "perplexity", "neighbours", "view_seed", "point_count")
POINT_COUNTS = (1000, 2000, 5000, 10000, 0)  # 0: the whole test set
SETTINGS_GROUP = "explorer"


@dataclass(frozen=True)
class ExplorerSettings:
    projection: str = "pca"
    first: int = 0           # latent dimensions shown by the "dimensions" projection (0-based)
    second: int = 1
    perplexity: float = 30.0  # t-SNE
    neighbours: int = 15      # UMAP
    view_seed: int = 0        # t-SNE and UMAP
    point_count: int = 10000  # 0: all
    point_size: int = 4
    opacity: float = 0.7
    background: bool = False
    background_range: float = 3.0  # prior standard deviations either side of the plane's origin
    background_cells: int = 15

    @property
    def linear(self) -> bool:
        """Whether the map is a plane, whose points map back to latent vectors exactly (not t-SNE or UMAP)."""
        return self.projection not in VIEWS

    def map_fields(self) -> tuple:
        """The values that decide where the points go with this projection (not how they look)."""
        names = {"tsne": ("perplexity", "view_seed"), "umap": ("neighbours", "view_seed")}.get(
            self.projection, ("first", "second"))
        return (self.projection, self.point_count, *(getattr(self, name) for name in names))


def projection_key(latent_dim: int) -> str:
    return "projection_2d" if latent_dim == 2 else "projection"


def default_projection(latent_dim: int) -> str:
    return "latent" if latent_dim == 2 else "pca"


def load_settings(latent_dim: int) -> ExplorerSettings:
    """The remembered settings, checked against the latent size."""
    store = QSettings()
    store.beginGroup(SETTINGS_GROUP)
    default = ExplorerSettings()
    fallback = default_projection(latent_dim)
    projection = str(store.value(projection_key(latent_dim), fallback))
    if projection not in choices_for(latent_dim):
        projection = fallback
    values = ExplorerSettings(
        projection=projection,
        first=int(store.value("first", default.first, type=int)),
        second=int(store.value("second", default.second, type=int)),
        perplexity=float(store.value("perplexity", default.perplexity, type=float)),
        neighbours=int(store.value("neighbours", default.neighbours, type=int)),
        view_seed=int(store.value("view_seed", default.view_seed, type=int)),
        point_count=int(store.value("point_count", default.point_count, type=int)),
        point_size=int(store.value("point_size", default.point_size, type=int)),
        opacity=float(store.value("opacity", default.opacity, type=float)),
        background=bool(store.value("background", default.background, type=bool)),
        background_range=float(store.value("background_range", default.background_range, type=float)),
        background_cells=int(store.value("background_cells", default.background_cells, type=int)),
    )
    store.endGroup()
    first, second = values.first, values.second
    if not (0 <= first < latent_dim and 0 <= second < latent_dim) or first == second:
        first, second = 0, 1
    return replace(values, first=first, second=second,
                   point_count=values.point_count if values.point_count in POINT_COUNTS else default.point_count)


def save_settings(values: ExplorerSettings, latent_dim: int) -> None:
    store = QSettings()
    store.beginGroup(SETTINGS_GROUP)
    store.setValue(projection_key(latent_dim), values.projection)
    for name in ("first", "second", "perplexity", "neighbours", "view_seed", "point_count", "point_size",
                 "opacity", "background", "background_range", "background_cells"):
        store.setValue(name, getattr(values, name))
    store.endGroup()


def choices_for(latent_dim: int) -> list[str]:
    return ["latent", "pca", *VIEWS] if latent_dim == 2 else ["dimensions", "pca", *VIEWS]


class ProjectionControls(QWidget):
    """Emits `changed(aspect)`: 'projection', 'points', 'appearance' or 'background'."""

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latent_dim = 2
        self._values = ExplorerSettings()
        self._updating = False
        self.projection = QComboBox()
        self.first, self.second = QSpinBox(), QSpinBox()
        for spin, prefix in ((self.first, "x: z"), (self.second, "y: z")):
            spin.setPrefix(prefix)
            spin.setKeyboardTracking(False)
        self._axes_row = QHBoxLayout()
        self._axes_row.addWidget(self.first)
        self._axes_row.addWidget(self.second)
        self.perplexity = QDoubleSpinBox(decimals=0, minimum=5, maximum=50, singleStep=5)
        self.perplexity.setKeyboardTracking(False)
        self.perplexity.setToolTip("t-SNE: about how many neighbours each point keeps close")
        self.neighbours = QSpinBox(minimum=2, maximum=100)
        self.neighbours.setKeyboardTracking(False)
        self.neighbours.setToolTip("UMAP: the size of the neighbourhood it preserves (larger: more global structure)")
        self.view_seed = QSpinBox(minimum=0, maximum=99999)
        self.view_seed.setKeyboardTracking(False)
        self.point_count = QComboBox()
        for count in POINT_COUNTS:
            self.point_count.addItem(f"{count:,}" if count else "whole test set", count)
        self.point_size = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=12)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=5, maximum=100)
        self.background = QCheckBox("Decoded images behind the points")
        self.background_range = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=6.0, singleStep=0.5, suffix=" σ")
        self.background_range.setPrefix("± ")
        self.background_range.setKeyboardTracking(False)
        self.background_range.setToolTip("The grid's reach either side of the plane's origin, in prior standard "
                                         "deviations")
        self.background_cells = QSpinBox(minimum=5, maximum=30, suffix=" per side")
        self.background_cells.setKeyboardTracking(False)
        self._grid_row = QHBoxLayout()
        self._grid_row.addWidget(self.background_range)
        self._grid_row.addWidget(self.background_cells)

        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Projection", self.projection)
        self.form.addRow("Axes", self._axes_row)
        self.form.addRow("Perplexity", self.perplexity)
        self.form.addRow("Neighbours", self.neighbours)
        self.form.addRow("Seed", self.view_seed)
        self.form.addRow("Points", self.point_count)
        self.form.addRow("Point size", self.point_size)
        self.form.addRow("Opacity", self.opacity)
        self.form.addRow(self.background)
        self.form.addRow("Grid", self._grid_row)
        box = QGroupBox("Map")
        box.setLayout(self.form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)

        self.projection.currentIndexChanged.connect(lambda: self._edited("projection"))
        for spin in (self.first, self.second, self.perplexity, self.neighbours, self.view_seed):
            spin.valueChanged.connect(lambda *_: self._edited("projection"))
        self.point_count.currentIndexChanged.connect(lambda: self._edited("points"))
        self.point_size.valueChanged.connect(lambda: self._edited("appearance"))
        self.opacity.valueChanged.connect(lambda: self._edited("appearance"))
        self.background.toggled.connect(lambda: self._edited("background"))
        self.background_range.valueChanged.connect(lambda: self._edited("background"))
        self.background_cells.valueChanged.connect(lambda: self._edited("background"))
        self.set_latent_dim(2)

    def values(self) -> ExplorerSettings:
        return self._values

    def set_latent_dim(self, latent_dim: int) -> None:
        """Offer the projections of a model with this latent size, and its remembered choice."""
        self.latent_dim = latent_dim
        self._show(load_settings(latent_dim))

    def set_values(self, values: ExplorerSettings) -> None:
        """Change the settings from code (remembered, and announced like a user's change)."""
        old = self._values
        self._show(values)
        save_settings(self._values, self.latent_dim)
        for aspect, names in (("projection", ("projection", "first", "second", "perplexity", "neighbours",
                                              "view_seed")),
                              ("points", ("point_count",)), ("appearance", ("point_size", "opacity")),
                              ("background", ("background", "background_range", "background_cells"))):
            if any(getattr(old, name) != getattr(self._values, name) for name in names):
                self.changed.emit(aspect)

    def show_default_projection(self) -> None:
        """Go back to the model's default plane (announced)."""
        self.set_values(replace(self._values, projection=default_projection(self.latent_dim)))

    def restore_map_settings(self, shown: ExplorerSettings) -> None:
        """Put back the values that decide the layout to those of the map `shown`, without announcing it."""
        with QSignalBlocker(self):
            self.set_values(replace(self._values, **{name: getattr(shown, name) for name in MAP_FIELDS}))

    def _show(self, values: ExplorerSettings) -> None:
        self._updating = True
        self.projection.clear()
        for choice in choices_for(self.latent_dim):
            self.projection.addItem(PROJECTION_TITLES[choice], choice)
        self.projection.setCurrentIndex(max(self.projection.findData(values.projection), 0))
        for spin in (self.first, self.second):
            spin.setRange(1, self.latent_dim)
        self.first.setValue(values.first + 1)
        self.second.setValue(values.second + 1)
        self.perplexity.setValue(values.perplexity)
        self.neighbours.setValue(values.neighbours)
        self.view_seed.setValue(values.view_seed)
        self.point_count.setCurrentIndex(max(self.point_count.findData(values.point_count), 0))
        self.point_size.setValue(values.point_size)
        self.opacity.setValue(round(values.opacity * 100))
        self.background.setChecked(values.background)
        self.background_range.setValue(values.background_range)
        self.background_cells.setValue(values.background_cells)
        self._updating = False
        self._values = self._read()
        self._update_visibility()

    def _read(self) -> ExplorerSettings:
        first, second = self.first.value() - 1, self.second.value() - 1
        if first == second:  # keep two different axes: move the one not just edited
            second = (first + 1) % self.latent_dim
        return ExplorerSettings(
            projection=str(self.projection.currentData()), first=first, second=second,
            perplexity=float(self.perplexity.value()), neighbours=self.neighbours.value(),
            view_seed=self.view_seed.value(), point_count=int(self.point_count.currentData()),
            point_size=self.point_size.value(), opacity=self.opacity.value() / 100.0,
            background=self.background.isChecked(), background_range=self.background_range.value(),
            background_cells=self.background_cells.value())

    def _edited(self, aspect: str) -> None:
        if self._updating:
            return
        if self.projection.currentData() == "umap":
            try:
                require_umap()
            except MissingPackageError as error:  # back to the projection shown, then say how to get UMAP
                self._updating = True
                self.projection.setCurrentIndex(max(self.projection.findData(self._values.projection), 0))
                self._updating = False
                show_error(self, "UMAP is not installed", str(error))
                return
        values = self._read()
        if (values.first, values.second) != (self.first.value() - 1, self.second.value() - 1):
            self._updating = True
            self.second.setValue(values.second + 1)
            self._updating = False
        self._values = values
        save_settings(values, self.latent_dim)
        self._update_visibility()
        self.changed.emit(aspect)

    def _update_visibility(self) -> None:
        kind = self._values.projection
        self.form.setRowVisible(self._axes_row, kind == "dimensions")
        self.form.setRowVisible(self.perplexity, kind == "tsne")
        self.form.setRowVisible(self.neighbours, kind == "umap")
        self.form.setRowVisible(self.view_seed, kind in VIEWS)
        self.background.setEnabled(self._values.linear)
        self.background.setToolTip("" if self._values.linear else "t-SNE and UMAP are views, not planes: no decoded "
                                   "background")
        self.form.setRowVisible(self._grid_row, self._values.background and self._values.linear)
