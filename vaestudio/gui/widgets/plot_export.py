"""Plots (the loss plot, the latent map) written as PNG or SVG: `export_plot`, and `save_plot_as`, which asks
where, writes, and confirms where the file went."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from vaestudio.core.errors import ExportError, VaeStudioError
from vaestudio.core.latent.image_files import check_extension, write_atomically
from vaestudio.gui.widgets.dialogs import show_error, show_saved


def export_plot(plot, path: str | Path, width: int | None = None) -> Path:
    """Write a pyqtgraph plot (a PlotWidget, PlotItem or GraphicsLayoutWidget) as PNG or SVG, atomically.

    `width` sets the PNG's width in pixels (default: as shown on screen).
    """
    from pyqtgraph.exporters import ImageExporter, SVGExporter

    suffix = check_extension(path, (".png", ".svg"), "a plot")
    item = plot.getPlotItem() if hasattr(plot, "getPlotItem") else getattr(plot, "ci", plot)
    exporter = ImageExporter(item) if suffix == ".png" else SVGExporter(item)
    if width is not None and suffix == ".png":
        exporter.parameters()["width"] = int(width)

    def write(temporary: Path) -> None:
        try:
            exporter.export(fileName=str(temporary))
        except ValueError:
            # pyqtgraph's SVG clean-up cannot parse the closed paths ("... Z") newer Qt writes
            # (pyqtgraph issue #3485); Qt's own SVG of the same scene area is correct.
            _render_svg(item, temporary)
        if temporary.stat().st_size == 0:
            raise ExportError(f"The plot could not be drawn into {path}; try the other format.")

    return write_atomically(path, write)


def _render_svg(item, path: Path) -> None:
    """Draw the scene area under a graphics item into an SVG file with Qt's SVG generator."""
    from PySide6.QtCore import QRectF, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    area = item.sceneBoundingRect()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(round(area.width()), round(area.height())))
    generator.setViewBox(QRectF(0, 0, area.width(), area.height()))
    views = item.scene().views()
    # Pens and text are sized for the screen: draw at its resolution, not the generator's 72 dpi.
    generator.setResolution(views[0].logicalDpiX() if views else 96)
    painter = QPainter(generator)
    try:
        item.scene().render(painter, QRectF(0, 0, area.width(), area.height()), area)
    finally:
        painter.end()


def save_plot_as(parent: QWidget, plot, name: str,
                 labelled: Callable[[], AbstractContextManager] | None = None) -> Path | None:
    """Ask where to write `plot` (PNG or SVG), write it (inside `labelled()`, which may add a title and a legend
    for the file only), and confirm where it went; errors are shown. Returns the file written, or None."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export plot", f"vaestudio-{name}.png",
                                          "PNG image (*.png);;SVG drawing (*.svg)")
    if not path:
        return None
    try:
        with (labelled or nullcontext)():
            written = export_plot(plot, path)
    except (VaeStudioError, OSError) as error:
        show_error(parent, "Export failed", str(error))
        return None
    show_saved(parent, f"Saved the {name} plot.", written)
    return written
