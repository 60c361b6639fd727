"""File > Export…: image sheets and GIFs with a live preview (plots: `plot_export`).

The preview shows exactly the arrays that Save writes (the core's `make_sheet`, the same
function `vaestudio sheet` calls), so what you see is the file you get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.data.factors import dimension_factors
from vaestudio.core.errors import VaeStudioError
from vaestudio.core.latent.image_files import (
    ANIMATED_KINDS,
)
from vaestudio.core.latent.sheets import (
    COLORMAPS,
    KINDS,
    Sheet,
    SheetSpec,
    default_shape,
    make_sheet,
    needs_test_images,
    traversal_factor_labels,
    with_defaults,
)
from vaestudio.core.latent.space import Projection, encode_images
from vaestudio.gui.model_session import ModelSession
from vaestudio.gui.widgets.dialogs import show_error, show_saved
from vaestudio.gui.widgets.sheet_preview import SheetPreview

KIND_TITLES = {"samples": "Samples from the prior", "manifold": "Manifold grid (2-D plane)",
               "interpolation": "Interpolation", "reconstructions": "Reconstructions",
               "traversal": "Traversal (one row per dimension)"}
FORMATS = {"png": ("PNG image", ".png"), "gif": ("Animated GIF", ".gif")}


def to_pixmap(picture: np.ndarray) -> QPixmap:
    """A uint8 RGB (H, W, 3) array as a QPixmap, pixel for pixel."""
    picture = np.ascontiguousarray(picture, dtype=np.uint8)
    height, width = picture.shape[:2]
    return QPixmap.fromImage(QImage(picture.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy())


class ExportDialog(QDialog):
    """Choose a sheet, see it, save it. Needs a model in `session`; test data enables reconstructions.

    The explorer can pass its current plane (`projection`, for the manifold), interpolation
    `endpoints` ((rows, 2, D) latents) and traversal `origin`; a check box chooses them over
    the defaults. A still traversal of a dataset with known factors (shapes) names the factor each
    row's dimension follows, as `vaestudio sheet` does: `followed_factors` (one per dimension, when
    the sliders panel has found them for these weights) or found here once per model and weights.
    """

    saved = Signal(str)  # the path written

    def __init__(self, session: ModelSession, test_data: ImageDataset | None = None, parent: QWidget | None = None,
                 *, kind: str = "samples", projection: Projection | None = None,
                 endpoints: np.ndarray | None = None, origin: np.ndarray | None = None,
                 followed_factors: Sequence[str] | None = None) -> None:
        super().__init__(parent)
        self._followed = list(followed_factors) if followed_factors is not None else None
        self.setWindowTitle("Export sheet")
        self.setObjectName("exportDialog")
        self.session = session
        self.test_data = test_data
        self.projection, self.endpoints, self.origin = projection, endpoints, origin
        self.sheet: Sheet | None = None
        self._frame = 0
        self._building = False
        self._sized = False

        self.kind_box = QComboBox()
        for name in KINDS:
            self.kind_box.addItem(KIND_TITLES[name], name)
        self.rows_spin, self.cols_spin = self._spin(1, 64, 8), self._spin(1, 64, 8)
        self.padding_spin, self.scale_spin = self._spin(0, 32, 2), self._spin(1, 16, 2)
        self.seed_spin = self._spin(0, 2**31 - 1, 0)
        self.background_box = QComboBox()
        self.background_box.setEditable(True)
        self.background_box.addItems(["black", "white", "gray"])
        self.background_box.setToolTip("black, white, gray or #rrggbb")
        self.colormap_box = QComboBox()
        self.colormap_box.addItem("none (as the data)", None)
        for name in COLORMAPS:
            self.colormap_box.addItem(name, name)
        self.format_box = QComboBox()
        for key, (title, _) in FORMATS.items():
            self.format_box.addItem(title, key)
        self.extent_spin = QDoubleSpinBox(minimum=0.5, maximum=10.0, singleStep=0.5, value=3.0, decimals=1)
        self.extent_spin.setSuffix(" std")
        self.first_dim, self.second_dim = self._spin(1, 128, 1), self._spin(1, 128, 2)  # z1..zD, numbered from 1
        self.first_dim.setPrefix("z")
        self.second_dim.setPrefix("z")
        self.dims_row = QHBoxLayout()
        self.dims_row.addWidget(self.first_dim)
        self.dims_row.addWidget(self.second_dim)
        self.method_box = QComboBox()
        self.method_box.addItems(["linear", "slerp"])
        self.between_box = QComboBox()
        self.between_box.addItem("prior draws", "prior")
        self.between_box.addItem("test images", "test")
        self.range_spin = QDoubleSpinBox(minimum=0.5, maximum=10.0, singleStep=0.5, value=3.0, decimals=1)
        self.frame_spin = self._spin(20, 5000, 120)
        self.frame_spin.setSuffix(" ms")
        self.bounce_box = QCheckBox("Play back and forth")
        self.context_box = QCheckBox("Use the explorer's plane, endpoints and origin")
        self.context_box.setChecked(True)

        self.form = QFormLayout()
        for label, widget in (("Kind", self.kind_box), ("Rows", self.rows_spin), ("Columns", self.cols_spin),
                              ("Padding", self.padding_spin), ("Pixel scale", self.scale_spin),
                              ("Background", self.background_box), ("Colormap", self.colormap_box),
                              ("Seed", self.seed_spin), ("Extent", self.extent_spin), ("Dimensions", self.dims_row),
                              ("Path", self.method_box), ("Between", self.between_box), ("Range ±", self.range_spin),
                              ("Format", self.format_box), ("Frame time", self.frame_spin), ("", self.bounce_box),
                              ("", self.context_box)):
            self.form.addRow(label, widget)

        self.preview = SheetPreview()  # the whole sheet at a whole-number zoom: nothing to scroll
        self.preview.setObjectName("exportPreview")
        self.info = QLabel()
        self.info.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Save…")
        self.save_button.clicked.connect(self.choose_file_and_save)
        buttons.rejected.connect(self.reject)

        side = QVBoxLayout()
        side.addLayout(self.form)
        side.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(side)
        preview_column = QVBoxLayout()
        preview_column.addWidget(self.preview, 1)
        preview_column.addWidget(self.info)
        top.addLayout(preview_column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(buttons)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._next_frame)
        for spin in (self.rows_spin, self.cols_spin, self.padding_spin, self.scale_spin, self.seed_spin,
                     self.first_dim, self.second_dim, self.frame_spin):
            spin.valueChanged.connect(self.refresh)
        for spin in (self.extent_spin, self.range_spin):
            spin.valueChanged.connect(self.refresh)
        for box in (self.colormap_box, self.format_box, self.method_box, self.between_box):
            box.currentIndexChanged.connect(self.refresh)
        self.background_box.currentTextChanged.connect(self.refresh)
        self.bounce_box.toggled.connect(self.refresh)
        self.context_box.toggled.connect(self.refresh)
        self.kind_box.currentIndexChanged.connect(self._kind_changed)
        session.modelChanged.connect(self._model_changed)
        session.weightsUpdated.connect(self._weights_updated)
        self._model_changed(keep_factors=True)
        self.set_kind(kind)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Open as large as the sheet wants (its pixels 1:1), within the window (or screen); never smaller than
        the layout."""
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            room = (self.parentWidget().window().size() if self.parentWidget() is not None
                    else self.screen().availableGeometry().size())  # within the window it belongs to
            wanted = self.sizeHint().boundedTo(QSize(int(room.width() * 0.9), int(room.height() * 0.9)))
            self.resize(wanted.expandedTo(self.minimumSizeHint()))

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    @property
    def kind(self) -> str:
        return self.kind_box.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind_box.setCurrentIndex(KINDS.index(kind))
        self._kind_changed()

    def set_test_data(self, test_data: ImageDataset | None) -> None:
        self.test_data = test_data
        self._kind_changed()

    def spec(self) -> SheetSpec:
        """The sheet the controls describe (what the preview shows and Save writes)."""
        kind = self.kind
        use_context = self.context_box.isChecked()
        spec = SheetSpec(
            kind=kind, rows=self.rows_spin.value(), cols=self.cols_spin.value(), padding=self.padding_spin.value(),
            scale=self.scale_spin.value(), background=self.background_box.currentText(),
            colormap=self.colormap_box.currentData(), seed=self.seed_spin.value(),
            dims=(self.first_dim.value() - 1, self.second_dim.value() - 1), extent=self.extent_spin.value(),
            projection=self.projection if use_context else None, method=self.method_box.currentText(),
            between=self.between_box.currentData(), endpoints=self.endpoints if use_context else None,
            traversal_range=self.range_spin.value(), origin=self.origin if use_context else None,
            frame_ms=self.frame_spin.value(), bounce=self.bounce_box.isChecked())
        if self.session.model is None:
            return spec
        epochs = self.session.history.epochs
        return with_defaults(spec, self.session.model.latent_dim, epochs[-1].test.kl_per_dim if epochs else None)

    @property
    def format(self) -> str:
        return self.format_box.currentData()

    def refresh(self) -> None:
        """Rebuild the sheet from the controls and show it."""
        if self._building:
            return
        self.timer.stop()
        self.sheet = None
        model = self.session.model
        if model is None:
            self._show_message("No model yet: train one, or open a model file.")
            return
        try:
            spec = self.spec()
            if spec.kind == "manifold" and spec.projection is None and spec.dims[0] == spec.dims[1]:
                self._show_message("Choose two different dimensions for the manifold's plane.")
                return
            test_images = self.test_data.images if self.test_data is not None and needs_test_images(spec) else None
            self.sheet = make_sheet(model, self._with_factor_labels(spec), test_images)
        except VaeStudioError as error:
            self._show_message(str(error))
            return
        self.rows_spin.setEnabled(not (spec.kind == "interpolation" and spec.endpoints is not None))
        height, width = self.sheet.picture.shape[:2]
        if self.format == "gif" and self.sheet.frames:
            frame_height, frame_width = self.sheet.frames[0].shape[:2]
            self.info.setText(f"{len(self.sheet.frames)} frames of {frame_width} x {frame_height} pixels, "
                              f"{spec.frame_ms} ms each")
            self._frame = 0
            self.preview.setPixmap(to_pixmap(self.sheet.frames[0]))
            self.timer.start(spec.frame_ms)
        else:
            self.info.setText(f"{width} x {height} pixels")
            self.preview.setPixmap(to_pixmap(self.sheet.picture))
        self.save_button.setEnabled(True)

    def save_to(self, path: str | Path) -> bool:
        """Write the sheet shown to `path` (.png or .gif); show the error and return False if it cannot."""
        if self.sheet is None:
            return False
        try:
            self.sheet.write(path)
        except VaeStudioError as error:
            show_error(self, "The sheet was not saved.", str(error))
            return False
        self.saved.emit(str(path))
        return True

    def choose_file_and_save(self) -> None:
        title, suffix = FORMATS[self.format]
        settings = QSettings()
        folder = Path(str(settings.value("export/folder", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(self, "Export sheet", str(folder / f"sheet-{self.kind}{suffix}"),
                                              f"{title} (*{suffix})")
        if not path:
            return
        if not Path(path).suffix:
            path += suffix
        if self.save_to(path):
            settings.setValue("export/folder", str(Path(path).parent))
            show_saved(self, f"Saved the {KIND_TITLES[self.kind].lower()} sheet.", path)

    def _show_message(self, message: str) -> None:
        self.preview.setPixmap(QPixmap())
        self.preview.setText(message)
        self.info.setText("")
        self.save_button.setEnabled(False)

    def _next_frame(self) -> None:
        if self.sheet is None or not self.sheet.frames:
            self.timer.stop()
            return
        self._frame = (self._frame + 1) % len(self.sheet.frames)
        self.preview.setPixmap(to_pixmap(self.sheet.frames[self._frame]))

    def _with_factor_labels(self, spec: SheetSpec) -> SheetSpec:
        data, model = self.test_data, self.session.model
        if spec.kind != "traversal" or self.format != "png" or data is None or data.factors is None:
            return spec
        if self._followed is None or len(self._followed) != model.latent_dim:
            self._followed = dimension_factors(data.factors, encode_images(model, data.images).mu)
        return replace(spec, row_labels=traversal_factor_labels(model, spec, data.images, data.factors, self._followed))

    def _weights_updated(self) -> None:
        self._followed = None  # the new weights may follow other factors
        self.refresh()

    def _model_changed(self, keep_factors: bool = False) -> None:
        if not keep_factors:
            self._followed = None
        model = self.session.model
        if model is not None:
            self.first_dim.setMaximum(model.latent_dim)
            self.second_dim.setMaximum(model.latent_dim)
        self._kind_changed()

    def _kind_changed(self) -> None:
        """Show the controls of this kind, with its usual rows and columns."""
        kind = self.kind
        model = self.session.model
        self._building = True
        rows, cols = default_shape(kind, model.latent_dim if model is not None else 10)
        self.rows_spin.setValue(rows)
        self.cols_spin.setValue(cols)
        has_test = self.test_data is not None
        self.kind_box.model().item(KINDS.index("reconstructions")).setEnabled(has_test)
        self.between_box.model().item(1).setEnabled(has_test)
        if not has_test:
            self.between_box.setCurrentIndex(0)
        animated = kind in ANIMATED_KINDS
        if not animated:
            self.format_box.setCurrentIndex(0)
        self.format_box.model().item(1).setEnabled(animated)
        has_context = {"manifold": self.projection, "interpolation": self.endpoints,
                       "traversal": self.origin}.get(kind) is not None
        for widget, visible in ((self.extent_spin, kind == "manifold"),
                                (self.dims_row, kind == "manifold" and self.projection is None),
                                (self.method_box, kind == "interpolation"),
                                (self.between_box, kind == "interpolation" and self.endpoints is None),
                                (self.seed_spin, kind in ("samples", "interpolation", "reconstructions")),
                                (self.range_spin, kind == "traversal"), (self.frame_spin, animated),
                                (self.bounce_box, animated), (self.context_box, has_context)):
            self.form.setRowVisible(widget, visible)
        self._building = False
        self.refresh()
