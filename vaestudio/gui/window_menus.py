"""The main window's menu bar: File (models, dataset folder, the panels' exports), Train, View, Help."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QTabWidget, QWidget

from vaestudio.gui.training.loss_plot import CHECKBOX_TITLES, TERMS
from vaestudio.gui.widgets.about_dialog import show_about

if TYPE_CHECKING:
    from vaestudio.gui.main_window import MainWindow
    from vaestudio.gui.training.loss_plot import LossPlot

Shortcut = QKeySequence | QKeySequence.StandardKey | str | None


def add_action(owner: QWidget, menu: QMenu, text: str, slot: Callable, shortcut: Shortcut = None,
               checkable: bool = False) -> QAction:
    """A menu entry owned by `owner` that calls `slot` when triggered."""
    action = QAction(text, owner)
    action.setCheckable(checkable)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def menu_term(title: str) -> str:
    """A loss term's check-box title as it reads after "Show": "Total" -> "total", "KL" stays "KL"."""
    return title if title.isupper() else title.lower()


class WindowMenus:
    """Builds the window's menus once; keeps the entries the window enables and the panels extend."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        menu_bar = window.menuBar()

        menu = menu_bar.addMenu("&File")
        self.file_menu = menu
        self.open_action = add_action(window, menu, "&Open model…", window.choose_model_to_open,
                                      QKeySequence.StandardKey.Open)
        self.save_action = add_action(window, menu, "&Save model as…", window.choose_where_to_save,
                                      QKeySequence.StandardKey.SaveAs)
        if self.save_action.shortcut().isEmpty():
            self.save_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.follow_action = add_action(window, menu, "&Follow run…", window.following.choose_file)
        self.follow_folder_action = add_action(window, menu, "Follow run fol&der…", window.following.choose_folder)
        for action in (self.follow_action, self.follow_folder_action):
            action.setToolTip("Show a run that trains elsewhere (another process, a server writing to a shared "
                              "folder) as its model file records each epoch")
        add_action(window, menu, "Open dataset &folder…", window.panel.choose_folder)
        self._file_extras = menu.addSeparator()
        menu.addSeparator()
        add_action(window, menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

        menu = menu_bar.addMenu("&Train")
        menu.addActions([window.panel.start_action, window.panel.pause_action, window.panel.stop_action])

        menu = menu_bar.addMenu("&View")
        self.view_menu = menu
        self._tab_entries = menu.addSeparator()  # the tabs' entries go above this line
        menu.addAction(window.setup_dock.toggleViewAction())
        # The loss plot is built when first shown: these entries reach it through window.loss_plot,
        # and follow its check boxes from then on (follow_loss_plot).
        self.log_action = add_action(window, menu, "&Log scale",
                                     lambda checked: window.loss_plot.set_log_scale(checked), "Ctrl+L",
                                     checkable=True)
        menu.addSeparator()
        self.term_actions: dict[str, QAction] = {}
        for term in TERMS:
            action = add_action(window, menu, f"Show {menu_term(CHECKBOX_TITLES[term])}",
                                lambda checked, term=term: window.loss_plot.term_boxes[term].setChecked(checked),
                                checkable=True)
            action.setChecked(True)
            self.term_actions[term] = action

        menu = menu_bar.addMenu("&Help")
        self.about_action = add_action(window, menu, "&About VAE Studio",
                                       lambda: show_about(window, window.device_in_use))
        add_action(window, menu, "About &Qt", QApplication.aboutQt)

    def follow_loss_plot(self, loss_plot: LossPlot) -> None:
        """Keep the View entries checked as the plot's own check boxes are (called once it is built)."""
        loss_plot.log_box.toggled.connect(self.log_action.setChecked)
        self.log_action.setChecked(loss_plot.log_box.isChecked())
        for term, box in loss_plot.term_boxes.items():
            box.toggled.connect(self.term_actions[term].setChecked)
            self.term_actions[term].setChecked(box.isChecked())

    def add_file_action(self, text: str, slot: Callable, shortcut: Shortcut = None) -> QAction:
        """An entry in the File menu, above Quit (for the panels' exports)."""
        action = add_action(self._window, self.file_menu, text, slot, shortcut)
        self.file_menu.insertAction(self._file_extras, action)
        return action

    def add_tab_actions(self, tabs: QTabWidget) -> list[QAction]:
        """One View entry per tab of `tabs` (the first nine), on Ctrl+1, Ctrl+2, … at the top of the menu."""
        actions = []
        for index in range(min(tabs.count(), 9)):
            action = QAction(tabs.tabText(index), self._window)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(partial(self._show_tab, tabs, index))
            self.view_menu.insertAction(self._tab_entries, action)
            actions.append(action)
        return actions

    @staticmethod
    def _show_tab(tabs: QTabWidget, index: int, *_: object) -> None:
        tabs.setCurrentIndex(index)

    def enable_file_actions(self, training: bool, has_model: bool) -> None:
        """Open only between runs; Save as once a model is loaded."""
        for action in (self.open_action, self.follow_action, self.follow_folder_action):
            action.setEnabled(not training)
        self.save_action.setEnabled(has_model)
