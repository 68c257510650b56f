"""OVITO modifier: DDD nodal forces F^DDD (Bertin, Bulatov & Zhou 2024, Eq. 2) on the upstream DXA network."""
from __future__ import annotations

import numpy as np
from traits.api import Bool, Enum, Float

from ddml_engine.materials import GPA
from ovito_modifiers._base import DISPLAY, NetworkForcesModifier
from ovito_modifiers._common import (add_segment_lines, add_vectors, arrow_scaling, character_angle_deg,
                                     check_parameters, segment_vertices, to_angstrom)


LEGENDS = {"|Force|": "|F| (Pa·b²)", "Character Angle": "character angle (deg)"}


class DDDForcesModifier(NetworkForcesModifier):
    """Converts the DXA network (Å -> b, junctions merged, periodic images, optional remesh to ~10 b), computes
    F^DDD with the chosen force model at the applied stress, and shows it.

    Units are ddml's everywhere (CLI, OVITO, ParaView): nodal forces in Pa*b^2, stress in GPa here.
    Outputs: `Lines` 'ddml-network' (per vertex: Force and |Force| in Pa*b^2 at the segment's end node, Burgers
    Vector (b), Character Angle (deg)), colour-mapped by `color_by`; `Vectors` 'ddml-forces' at the nodes
    (Direction = force in Pa*b^2, drawn `arrow_scale` Å per GPa*b^2; 0 = the longest arrow is 15 % of the
    shortest cell vector); attributes, named with their units: DDD.max_force_Pa_b2, DDD.line_length_A,
    DDD.density_per_m2, DDD.stress_<ij>_GPa, DDD.num_nodes, DDD.num_segments, DDD.stress_source.
    """

    color_by = Enum("|Force|", "Character Angle", label="Colour lines by", **DISPLAY)
    show_arrows = Bool(True, label="Show force arrows", **DISPLAY)
    arrow_scale = Float(0.0, label="Arrow length (Å per GPa*b^2, 0 = automatic)", **DISPLAY)
    arrow_width = Float(0.6, label="Arrow width (Å)", **DISPLAY)
    line_width = Float(1.2, label="Line width (Å)", **DISPLAY)

    who = "DDD forces (ddml)"
    LIMITS = {"arrow_scale": (0.0, 1e9, False), "arrow_width": (0.0, 1e6, False),
              "line_width": (0.0, 1e6, False)}

    def modify(self, data, *, frame, data_cache, **kwargs):
        yield "ddml: DXA network and DDD forces"
        check_parameters(self)
        net, forces, stress, source, _ = self.network_and_forces(data, frame, data_cache)
        yield 0.9
        mat = self.material_preset()
        magnitude = np.linalg.norm(forces, axis=1)
        seg_nodes = net.segments.reshape(-1)
        vertices = to_angstrom(segment_vertices(net), mat)
        burgers = np.repeat(net.burgers, 2, axis=0)
        angle = np.repeat(character_angle_deg(net), 2)
        top = float(magnitude.max()) if len(magnitude) else 0.0
        interval = (0.0, max(top, 1e-30)) if self.color_by == "|Force|" else (0.0, 90.0)
        add_segment_lines(data, "ddml-network", vertices,
                          {"Force": forces[seg_nodes], "|Force|": magnitude[seg_nodes], "Burgers Vector": burgers,
                           "Character Angle": angle},
                          {"width": self.line_width, "color_mapping_property": self.color_by,
                           "color_mapping_interval": interval, "wrapped_lines": True,
                           "title": "ddml network", "legend_title": LEGENDS[self.color_by]})
        if self.show_arrows and net.num_nodes:
            positions = to_angstrom(net.cell.wrap(net.positions), mat)
            add_vectors(data, "ddml-forces", positions, forces, {"|Force|": magnitude},
                        {"scaling": arrow_scaling(self.arrow_scale / GPA, top, to_angstrom(net.cell.lengths, mat)),
                         "width": self.arrow_width, "color_mapping_property": "|Force|",
                         "color_mapping_interval": (0.0, max(top, 1e-30)), "title": "ddml forces"})
        length_b = net.total_length()
        data.attributes["DDD.max_force_Pa_b2"] = top
        data.attributes["DDD.line_length_A"] = float(to_angstrom(length_b, mat))
        data.attributes["DDD.density_per_m2"] = net.density(mat.burgers_m)
        data.attributes["DDD.num_nodes"] = net.num_nodes
        data.attributes["DDD.num_segments"] = net.num_segments
        data.attributes["DDD.stress_source"] = source
        for name, value in zip(("xx", "yy", "zz", "yz", "xz", "xy"), stress / GPA):
            data.attributes[f"DDD.stress_{name}_GPa"] = float(value)
