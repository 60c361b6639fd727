"""What the map's points are coloured by: their label, or one of the dataset's known factors (the shapes
dataset's shape, colour, scale, rotation, x, y), chosen in the "Colour by" box shown when there are factors.

A mixin of `ExplorerPanel`: it reads `factors`, `result`, `class_names` and the session, and sets the
points' groups, names and colours on the latent map.
"""

from __future__ import annotations

import numpy as np

from vaestudio.core.data.factors import factor_groups
from vaestudio.core.data.shapes import COLOURS as SHAPE_COLOURS
from vaestudio.core.latent.space import LatentMapData


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(value) for value in rgb))


class PointColours:
    """The "Colour by" box (`colour_box`) and the colour groups of the points shown."""

    def _fill_colour_box(self) -> None:
        """"label" and each factor of the dataset; hidden when it has none."""
        chosen = self.colour_box.currentText()
        names = ["label"] + (list(self.factors.names) if self.factors is not None else [])
        self.colour_box.blockSignals(True)
        self.colour_box.clear()
        self.colour_box.addItems(names)
        self.colour_box.setCurrentIndex(names.index(chosen) if chosen in names else 0)
        self.colour_box.blockSignals(False)
        for widget in (self.colour_label, self.colour_box):
            widget.setVisible(len(names) > 1)

    def colour_by(self) -> str:
        """What the points are coloured by: "label" or a factor's name."""
        return self.colour_box.currentText() or "label"

    def _point_groups(self, result: LatentMapData) -> tuple[np.ndarray, list[str], list[str] | None]:
        """Each placed point's colour group, the groups' names, and their colours (None: the class colours).

        Levels that are colours (the shapes' colour factor) are drawn in those colours; the ranges of a
        continuous factor along viridis.
        """
        factor = self.colour_by()
        if factor == "label" or self.factors is None or factor not in self.factors.names:
            return result.labels, self.session.class_names or self.class_names, None
        groups, names, ordered = factor_groups(self.factors, factor, result.indices[result.layout.rows])
        if not ordered:
            named = [SHAPE_COLOURS.get(name) for name in names]
            return groups, names, None if None in named else [_hex(rgb) for rgb in named]
        from vaestudio.core.latent.sheets import colormap_table  # the sheets load when first needed, not at start-up

        table = colormap_table("viridis")
        return groups, names, [_hex(table[step]) for step in np.linspace(0, 255, len(names)).round().astype(int)]

    def _recolour(self) -> None:
        result = self.result
        if result is None:
            return
        groups, names, colours = self._point_groups(result)
        self.latent_map.set_points(result.layout.points, groups, names, keep_view=True, colours=colours)
