"""The explorer in the main window: the latent map and, under it, the four tool panels,
File > Export…, and the wiring between them.

The map is the hub: its clicks feed the interpolation and the sliders; the interpolation
path, a marked reconstruction and the sketch's posterior are drawn back onto it. Panels
share the test split the map loaded, as one ImageDataset.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QPushButton,
    QSplitter,
    QTabWidget,
)

from vaestudio.core.data.datasets import ImageDataset
from vaestudio.core.latent.space import posterior_outline
from vaestudio.gui.explorer.explorer_panel import ExplorerPanel
from vaestudio.gui.main_window import MainWindow
from vaestudio.gui.panels.interpolation import InterpolationPanel
from vaestudio.gui.panels.reconstruction import ReconstructionPanel
from vaestudio.gui.panels.sketch import SketchPanel
from vaestudio.gui.panels.sliders import SlidersPanel
from vaestudio.gui.widgets.dialogs import show_error

if TYPE_CHECKING:  # the export dialog (and the sheets, PIL) load when it first opens, not with the window
    from vaestudio.gui.widgets.export_dialog import ExportDialog

MAP_SHARE = (11, 9)  # how the map and the tools under it share the height (and any height added)
TOOL_SHEETS = ("interpolation", "reconstructions", "traversal", "samples")  # the export kind of each tool


class ExplorerWorkspace(QObject):
    """Adds the explorer and its panels to `window` and keeps them in step."""

    def __init__(self, window: MainWindow, data_dir: str | Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        session = window.session
        self.explorer = ExplorerPanel(session, window, data_dir=data_dir, jobs=window.jobs)
        self.interpolation = InterpolationPanel(session)
        self.reconstruction = ReconstructionPanel(session, jobs=window.jobs)
        self.sliders = SlidersPanel(session, jobs=window.jobs)
        self.sketch = SketchPanel(session, jobs=window.jobs)
        self.test_data: ImageDataset | None = None
        self._shared_images: np.ndarray | None = None  # the explorer's test images the panels were given
        self._path: np.ndarray | None = None
        self._sketch: tuple[np.ndarray, np.ndarray] | None = None

        # One tab: the map above, the four tools below it, so a path, a marked reconstruction or a sketch shows
        # on the map while its panel is in use. Nothing scrolls: each tool lays itself out in the room it gets
        # (at 1280x800 too), its images at whole-number zoom.
        self.tools = QTabWidget()
        self.tools.setDocumentMode(True)
        for panel, title in ((self.interpolation, "Interpolation"), (self.reconstruction, "Reconstruction"),
                             (self.sliders, "Latent sliders"), (self.sketch, "Sketch pad")):
            self.tools.addTab(panel, title)
        export_button = QPushButton("Export…")
        export_button.setToolTip("Write what this panel shows as a PNG sheet or GIF (File > Export images…)")
        export_button.clicked.connect(lambda: self.open_export_dialog(TOOL_SHEETS[self.tools.currentIndex()]))
        self.tools.setCornerWidget(export_button, Qt.Corner.TopRightCorner)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("explorerSplitter")
        self.splitter.addWidget(self.explorer)
        self.splitter.addWidget(self.tools)
        self.splitter.setStretchFactor(0, MAP_SHARE[0])
        self.splitter.setStretchFactor(1, MAP_SHARE[1])
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([MAP_SHARE[0] * 100, MAP_SHARE[1] * 100])
        self.map_tab = window.add_panel(self.splitter, "Latent space")

        self.explorer.mapUpdated.connect(self._on_map_updated)
        self.explorer.pointChosen.connect(self.interpolation.use_latent)
        self.explorer.pointChosen.connect(self.sliders.use_latent)
        self.explorer.endpointChosen.connect(self._use_as_endpoint)
        self.interpolation.pathChanged.connect(self._on_path)
        self.reconstruction.sampleMarked.connect(self._on_sample_marked)
        self.sketch.sketchEncoded.connect(self._on_sketch)
        self.sketch.sketchCleared.connect(self._on_sketch_cleared)
        self._add_actions()
        window.restore_splitter(self.splitter)

    def _add_actions(self) -> None:
        window = self.window
        # triggered(bool) would pass its `checked` flag as the kind: call with no arguments.
        export = window.add_file_action("&Export images…", lambda: self.open_export_dialog(), "Ctrl+E")
        export.setToolTip("Sample sheets, the manifold grid, interpolations, reconstructions and traversals")
        window.add_file_action("Export loss &plot…", self.export_loss_plot)
        window.add_file_action("Export latent &map…", self.explorer.export_map)
        window.menus.view_menu.addSeparator()
        for index in range(self.tools.count()):  # Ctrl+1 and Ctrl+2 are the window's tabs
            action = window.menus.view_menu.addAction(self.tools.tabText(index), partial(self._show_tool, index))
            action.setShortcut(QKeySequence(f"Ctrl+{index + 3}"))
        window.tab_shortcuts()

    def _show_tool(self, index: int) -> None:
        self.window.tabs.setCurrentIndex(self.map_tab)
        self.tools.setCurrentIndex(index)

    # -- wiring ----------------------------------------------------------------------------

    def _on_map_updated(self) -> None:
        """Share the test split the map loaded (once per dataset) and redraw the overlays in its plane."""
        images = self.explorer.images
        if images is not self._shared_images:
            self._shared_images = images
            self._set_test_data(None if images is None else ImageDataset(
                self.explorer.dataset_spec or "", "test", torch.from_numpy(images),
                torch.from_numpy(self.explorer.labels), list(self.explorer.class_names), self.explorer.factors))
        self._draw_path()
        self._draw_sketch()

    def _set_test_data(self, dataset: ImageDataset | None) -> None:
        self.test_data = dataset
        for panel in (self.interpolation, self.reconstruction, self.sliders, self.sketch):
            panel.set_test_data(dataset)

    def _use_as_endpoint(self, which: str, z: np.ndarray) -> None:
        """The map's menu: a point as interpolation end A or B; the Interpolation tool comes to the front."""
        if self.interpolation.set_endpoint(which, z, "map"):
            self.tools.setCurrentWidget(self.interpolation)

    def _on_path(self, latents: np.ndarray) -> None:
        self._path = np.asarray(latents)
        self._draw_path()

    def _draw_path(self) -> None:
        plane = self.explorer.plane()
        fits = plane is not None and self._path is not None and self._path.shape[-1] == plane.axes.shape[1]
        self.explorer.latent_map.set_path(plane.to_map(self._path) if fits else None)

    def _on_sample_marked(self, index: int) -> None:
        if self.explorer.images is not None and 0 <= index < len(self.explorer.images):
            self.explorer.show_sample(index, mark=True)

    def _on_sketch(self, mu: np.ndarray, logvar: np.ndarray) -> None:
        self._sketch = (np.asarray(mu), np.asarray(logvar))
        self._draw_sketch()

    def _on_sketch_cleared(self) -> None:
        self._sketch = None
        self._draw_sketch()

    def _draw_sketch(self) -> None:
        """The sketch's posterior on the map: its mean and spread on a plane, its mean placed in a t-SNE or UMAP view."""
        plane = self.explorer.plane()
        if plane is None:
            self.explorer.place_sketch(None if self._sketch is None else self._sketch[0])
        elif self._sketch is None or self._sketch[0].shape[-1] != plane.axes.shape[1]:
            self.explorer.latent_map.set_sketch(None)
        else:
            self.explorer.latent_map.set_sketch(*posterior_outline(plane, *self._sketch))

    # -- export ----------------------------------------------------------------------------

    def open_export_dialog(self, kind: str = "samples") -> ExportDialog | None:
        if self.window.session.model is None:
            show_error(self.window, "Nothing to export", "Load or train a model first: File > Open model….")
            return None
        from vaestudio.gui.widgets.export_dialog import ExportDialog

        path = self.interpolation.path
        endpoints = None if path is None or len(path) < 2 else np.stack([path[0], path[-1]])[None]
        dialog = ExportDialog(self.window.session, self.test_data, self.window, kind=kind,
                              projection=self.explorer.plane(), endpoints=endpoints,
                              followed_factors=self.sliders.followed_factors)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def export_loss_plot(self) -> None:
        """The loss plot as PNG or SVG, with a title naming the model and a legend of its curves."""
        from vaestudio.gui.widgets.plot_export import save_plot_as  # loads PIL: when first used

        window = self.window
        window.tabs.setCurrentWidget(window.training_view)  # laid out and drawn as on screen (hidden, it waits)
        loss_plot = window.loss_plot
        save_plot_as(window, loss_plot.plot_widget, "loss",
                     lambda: loss_plot.labelled_for_export(f"Training of {window.session.describe()}"))
