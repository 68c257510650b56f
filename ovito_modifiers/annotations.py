"""Viewport annotations for ddml pictures: colour legends with units and a time / strain label.

The modifiers record the legend title (with units) of each colour-mapped visual as the global attribute
`ddml.legend.<identifier>`; `annotate_viewport` adds one `ColorLegendOverlay` per distinct title and a
`TextLabelOverlay` naming the frame, its time and (when the frame has one) its strain and axial stress. Used by the
batch script and the example sessions (example_sessions/ovito/).
"""
from __future__ import annotations

from ovito.data import DataCollection
from ovito.qt_compat import QtCore
from ovito.vis import ColorLegendOverlay, TextLabelOverlay, Viewport

from ovito_modifiers._common import LEGEND_ATTRIBUTE

#: (container, identifier) of the ddml visuals that can carry a colour legend, in the order the legends stack
LEGEND_SOURCES = (("lines", "ddml-network"), ("vectors", "ddml-velocities"), ("grids", "ddml-nye"),
                  ("grids", "ddml-nye-mismatch"))
Qt = QtCore.Qt
FONT = "DejaVu Sans"  # named: a session opened elsewhere must not fall back to a symbol font
STRAIN_ATTRIBUTES = ("Strain", "strain")


def _visual(data: DataCollection, container: str, identifier: str):
    try:
        obj = getattr(data, container)[identifier]
    except (KeyError, AttributeError):
        return None
    vis = getattr(obj, "vis", None)
    return vis if vis is not None and getattr(vis, "enabled", True) else None


def frame_label(data: DataCollection) -> str:
    """'frame [SourceFrame], t = [Time] ps, strain [..], sigma_zz [..] GPa' with what the frame holds (OVITO
    replaces [name] by the attribute's value at render time)."""
    attrs = data.attributes
    parts = ["frame [SourceFrame]"]
    if "Time" in attrs:
        parts.append("t = [Time] ps")
    elif "Timestep" in attrs:
        parts.append("step [Timestep]")
    strain = next((name for name in STRAIN_ATTRIBUTES if name in attrs), None)
    if strain:
        parts.append(f"strain [{strain}]")
    if "DDD.stress_zz_GPa" in attrs:
        parts.append("σzz [DDD.stress_zz_GPa] GPa")
    return ", ".join(parts)


def annotate_viewport(viewport: Viewport, data: DataCollection, text_color=(0.0, 0.0, 0.0)) -> list:
    """Add the colour legends (titles with units) of `data`'s ddml visuals and a frame / time / strain label to
    `viewport`; returns the overlays added."""
    added = []
    titles = set()
    for k, (container, identifier) in enumerate(LEGEND_SOURCES):
        vis = _visual(data, container, identifier)
        title = data.attributes.get(LEGEND_ATTRIBUTE.format(identifier))
        if vis is None or not title or title in titles:
            continue
        titles.add(title)
        corner = Qt.AlignmentFlag.AlignLeft if len(added) % 2 == 0 else Qt.AlignmentFlag.AlignRight
        legend = ColorLegendOverlay(color_mapping_source=vis, title=str(title), text_color=text_color, font_family=FONT,
                                    alignment=corner | Qt.AlignmentFlag.AlignBottom,
                                    orientation=Qt.Orientation.Horizontal, legend_size=0.35, font_size=0.12,
                                    aspect_ratio=6.0, format_string="%.3g",
                                    offset_x=0.04 if len(added) % 2 == 0 else -0.04,
                                    offset_y=0.02 + 0.2 * (len(added) // 2))
        viewport.overlays.append(legend)
        added.append(legend)
    label = TextLabelOverlay(text=frame_label(data), font_size=0.045, text_color=text_color, font_family=FONT,
                             offset_x=0.01,
                             offset_y=-0.01)
    viewport.overlays.append(label)
    added.append(label)
    return added
