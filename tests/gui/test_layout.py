"""The window at laptop size: every control and each panel's main content shows without scrolling at
1280x800 (and 1440x900); at 1920x1080 the images grow, always by whole screen pixels per image pixel."""

from __future__ import annotations

import pytest
from full_window import full_window  # noqa: F401  (fixture)
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractScrollArea, QScrollArea, QWidget

from vaestudio.gui.main_window import MainWindow

LAPTOP, DEFAULT, LARGE = (1280, 800), (1440, 900), (1920, 1080)


def window_rect(widget: QWidget, window: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def assert_fully_shown(widget: QWidget, window: QWidget) -> None:
    """Shown, inside the window, and not clipped by any ancestor (a scroll area's viewport included)."""
    name = widget.objectName() or type(widget).__name__
    assert widget.isVisible(), f"{name} is hidden"
    if not isinstance(widget, QAbstractScrollArea):  # a scroll area is covered by its viewport and content
        region = widget.visibleRegion()
        assert not region.isEmpty(), f"{name} shows nothing"
        assert region.boundingRect() == widget.rect(), f"{name} is clipped: {region.boundingRect()} of {widget.rect()}"
    assert window.rect().contains(window_rect(widget, window)), f"{name} reaches outside the window"
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        shown = QRect(widget.mapTo(parent, QPoint(0, 0)), widget.size())
        assert parent.rect().contains(shown), f"{name} is clipped by {type(parent).__name__} ({shown} in {parent.rect()})"
        parent = parent.parentWidget()


def is_whole(zoom: float) -> bool:
    return zoom >= 1 and float(zoom).is_integer()


def show_tool(window: MainWindow, qtbot, index: int) -> None:
    workspace = window.workspace
    window.tabs.setCurrentIndex(workspace.map_tab)
    workspace.tools.setCurrentIndex(index)
    qtbot.wait(50)  # a layout pass and a paint


def sized(window: MainWindow, qtbot, size: tuple[int, int]) -> MainWindow:
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size)
    qtbot.wait(50)
    return window


def explorer_widgets(window: MainWindow) -> list[QWidget]:
    explorer = window.workspace.explorer
    controls = explorer.controls
    return [explorer.latent_map.plot, explorer.status, explorer.decoded.canvas, explorer.decoded.caption_label,
            explorer.sample_view.original.canvas, explorer.sample_view.reconstruction.canvas, explorer.sample_button,
            controls.projection, controls.point_count, controls.point_size, controls.opacity, controls.background]


def tool_widgets(window: MainWindow) -> dict[int, list[QWidget]]:
    workspace = window.workspace
    interpolation, reconstruction = workspace.interpolation, workspace.reconstruction
    sliders, sketch = workspace.sliders, workspace.sketch
    ends = [widget for box in interpolation.boxes.values()
            for widget in (box.preview.canvas, box.preview.caption_label, box.prior_button, box.test_button,
                           box.class_box)]
    return {
        0: [interpolation.strip, interpolation.frame_preview.canvas, interpolation.method_box,
            interpolation.steps_spin, interpolation.target_box, interpolation.target_label, interpolation.swap_button,
            interpolation.reroll_button, interpolation.play_button, *ends],
        1: [reconstruction.grid, reconstruction.class_box, reconstruction.order_box, reconstruction.count_spin,
            reconstruction.resample_button, reconstruction.status],
        2: [sliders.preview.canvas, sliders.zero_button, sliders.test_button, sliders.prior_button,
            sliders.reset_button, sliders.slider_area, sliders.traversal],
        3: [sketch.canvas, sketch.brush_spin, sketch.clear_button, sketch.undo_button, sketch.mnist_box,
            sketch.input_preview.canvas, sketch.reconstruction_preview.canvas, sketch.neighbour_grid],
    }


def zooms(window: MainWindow, qtbot) -> dict[str, float]:
    """Screen pixels per image pixel of each panel's images, as drawn at the window's size now."""
    workspace = window.workspace
    explorer = workspace.explorer
    found = {}
    show_tool(window, qtbot, 0)
    found["decoded"] = explorer.decoded.canvas.zoom()
    found["original"] = explorer.sample_view.original.canvas.zoom()
    found["strip"] = workspace.interpolation.strip.scale()
    found["endpoint"] = workspace.interpolation.boxes["A"].preview.canvas.zoom()
    found["frame"] = workspace.interpolation.frame_preview.canvas.zoom()
    show_tool(window, qtbot, 1)
    qtbot.waitUntil(lambda: workspace.reconstruction.grid.count() > 0)
    found["pairs"] = workspace.reconstruction.grid.scale()
    show_tool(window, qtbot, 2)
    qtbot.waitUntil(lambda: workspace.sliders.traversal.count() > 0)
    found["slider preview"] = workspace.sliders.preview.canvas.zoom()
    found["traversal"] = workspace.sliders.traversal.scale()
    show_tool(window, qtbot, 3)
    found["sketch pad"] = workspace.sketch.canvas.zoom()
    found["encoder input"] = workspace.sketch.input_preview.canvas.zoom()
    return found


@pytest.fixture
def shown_sample(full_window, qtbot):  # noqa: F811
    """The full window with a test image chosen on the map (its original and reconstruction shown)."""
    explorer = full_window.workspace.explorer
    qtbot.waitUntil(lambda: explorer.result is not None, timeout=20_000)
    explorer.show_sample(3)
    explorer.sample_prior()  # an image in the decoded preview too
    return full_window


@pytest.mark.parametrize("size", [LAPTOP, DEFAULT], ids=["1280x800", "1440x900"])
def test_every_control_and_image_shows_without_scrolling(shown_sample, qtbot, size):
    window = sized(shown_sample, qtbot, size)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    for widget in (window.loss_plot, window.kl_bars):
        assert_fully_shown(widget, window)
    for index, widgets in tool_widgets(window).items():
        show_tool(window, qtbot, index)
        for widget in explorer_widgets(window) + widgets:
            assert_fully_shown(widget, window)
    # Reconstruction shows all 24 pairs inside its grid.
    show_tool(window, qtbot, 1)
    grid = window.workspace.reconstruction.grid
    qtbot.waitUntil(lambda: grid.count() == 24)
    assert all(grid.rect().contains(grid.tile_rect(index)) for index in range(24))
    # The Run dock's form fits its width: no horizontal scrolling, Start and the dataset in view.
    panel = window.panel
    scroll = window.setup_dock.widget()
    assert panel.width() <= scroll.viewport().width()
    # even at the dock's least width with a vertical scroll bar, and with a model from a long path on show
    assert panel.minimumSizeHint().width() <= window.setup_dock.minimumWidth() - scroll.verticalScrollBar().sizeHint().width()
    fields = [panel.dataset, panel.image_size, panel.channels, panel.model_kind, panel.latent_dim, panel.hidden,
              panel.beta, panel.epochs, panel.batch_size, panel.learning_rate, panel.device, panel.seed, panel.precision]
    for widget in fields + [panel.fused_step, panel.epoch_bar, panel.run_bar, panel.status_label]:
        assert window_rect(widget, window).right() <= window_rect(scroll.viewport(), window).right()
        assert_fully_shown(widget, window)


def test_images_are_drawn_at_whole_zoom_and_grow_on_a_large_screen(shown_sample, qtbot):
    laptop = zooms(sized(shown_sample, qtbot, LAPTOP), qtbot)
    large = zooms(sized(shown_sample, qtbot, LARGE), qtbot)
    for size, found in (("1280x800", laptop), ("1920x1080", large)):
        fractional = {name: zoom for name, zoom in found.items() if not is_whole(zoom)}
        assert not fractional, f"at {size} these images are scaled by a fraction: {fractional}"
    assert laptop["decoded"] >= 5 and laptop["strip"] >= 2 and laptop["pairs"] >= 1 and laptop["sketch pad"] >= 8
    grown = [name for name in ("decoded", "original", "strip", "pairs", "sketch pad") if large[name] > laptop[name]]
    assert grown == ["decoded", "original", "strip", "pairs", "sketch pad"], (laptop, large)
    assert all(large[name] >= laptop[name] for name in laptop), (laptop, large)


def test_the_export_dialog_shows_its_whole_sheet_at_a_whole_zoom(shown_sample, qtbot):
    window = sized(shown_sample, qtbot, LAPTOP)
    dialog = window.workspace.open_export_dialog("samples")
    qtbot.waitExposed(dialog)
    sheet = dialog.preview.pixmap().size()
    assert (sheet.width(), sheet.height()) == (466, 466)  # 8 x 8 images at scale 2 with their padding
    assert dialog.preview.zoom() == 1  # pixel for pixel, all of it: nothing to scroll
    assert dialog.width() <= window.width() and dialog.height() <= window.height()
    assert_fully_shown(dialog.preview, dialog)
    dialog.scale_spin.setValue(4)  # 914 pixels: shown at half size, whole, rather than scrolled
    assert dialog.preview.zoom() == 0.5
    picture = dialog.preview.pixmap().toImage()
    assert (picture.width(), picture.height()) == (914, 914)
    dialog.close()


def test_no_panel_scrolls_in_the_latent_space_tab(shown_sample):
    workspace = shown_sample.workspace
    panels = [workspace.interpolation, workspace.reconstruction, workspace.sliders, workspace.sketch]
    assert [workspace.tools.widget(index) for index in range(workspace.tools.count())] == panels
    # The one scroll area left is the sliders' list (a slider per latent dimension, up to 128).
    assert workspace.splitter.findChildren(QScrollArea) == [workspace.sliders.slider_area]
