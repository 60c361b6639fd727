"""The latent map's context menu (a right click): decode here, use the point as interpolation end A or B,
copy its z, export the map.

A mixin of `ExplorerPanel`. On a plane the point is the plane's latent vector; on a t-SNE or
UMAP view (which have no exact inverse) it is the encoded mean of the nearest test image.
Nothing is computed until an entry is chosen.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QMenu

from vaestudio.core.latent.space import nearest_point

MENU_ENTRIES = ("Decode here", "Use as interpolation end A", "Use as interpolation end B", "Copy z", "Export map…")


def format_latent(z: np.ndarray) -> str:
    """A latent vector as text to paste (into Python, a spreadsheet, `numpy.array(...)`): [0.1234, -1.5, ...]."""
    return "[" + ", ".join(f"{float(value):.6g}" for value in np.asarray(z).ravel()) + "]"


class MapMenu:
    """Builds and shows the map's menu; `endpointChosen(which, z)` carries the choice of an interpolation end."""

    def latent_at(self, x: float, y: float, index: int = -1) -> tuple[np.ndarray | None, str]:
        """The latent vector of map point (x, y) and what it is: a plane's point, or on a view the encoded mean
        of the point hit (`index`) or else of the nearest one; (None, why) without a model or points."""
        if self.session.model is None:
            return None, "no model"
        plane = self.plane()
        if plane is not None:
            return plane.to_latent(np.array([[x, y]]))[0].astype(np.float32), "the plane's point"
        if self.result is None or not len(self.result.layout.points):
            return None, "no points"
        if index < 0:
            index, _ = nearest_point(self.result.layout.points, np.array([x, y]), None)
        return self.result.mu[int(self.result.layout.rows[index])].copy(), "the nearest encoded point"

    def map_menu(self, x: float, y: float, index: int = -1) -> QMenu:
        """The menu for map point (x, y) (`index`: the data point under it, or -1)."""
        z, what = self.latent_at(x, y, index)
        suffix = "" if what == "the plane's point" else " (nearest point)"
        menu = QMenu(self)
        menu.setObjectName("mapMenu")
        decode = menu.addAction("Decode here", lambda: self._on_map_clicked(x, y, index))
        ends = [menu.addAction(f"Use as interpolation end {which}{suffix}",
                               lambda which=which: self.endpointChosen.emit(which, z.copy())) for which in "AB"]
        copy = menu.addAction(f"Copy z{suffix}", lambda: QApplication.clipboard().setText(format_latent(z)))
        copy.setToolTip("The latent vector as text: [z1, z2, …]")
        menu.addSeparator()
        menu.addAction("Export map…", self.export_map)
        decode.setEnabled(self.session.model is not None)
        for action in (*ends, copy):
            action.setEnabled(z is not None)
        return menu

    def _on_map_context(self, x: float, y: float, index: int, screen_position: QPoint) -> None:
        menu = self.map_menu(x, y, index)
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(screen_position)

    def export_map(self) -> None:
        """The map as PNG or SVG, as shown (points, background, marks and overlays)."""
        from vaestudio.gui.widgets.plot_export import save_plot_as  # loads PIL: when first used

        save_plot_as(self.window(), self.latent_map.plot, "map")
