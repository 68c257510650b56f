"""OVITO modifier: nodal velocities of a trained ddml GNN mobility law (Bertin, Bulatov & Zhou 2024, Eq. 4),
V = M_theta(F^DDD, graph), on the upstream DXA network."""
from __future__ import annotations

import os

import numpy as np
from ovito.traits import Color, FilePath
from traits.api import Bool, Float

from ovito_modifiers._base import DISPLAY, NetworkForcesModifier
from ovito_modifiers._common import (add_segment_lines, add_vectors, arrow_scaling, cache_get, cache_put,
                                     check_parameters, load_gnn, memo_get, memo_put, segment_vertices, to_angstrom)

PS = 1e-12


class GNNVelocitiesModifier(NetworkForcesModifier):
    """Loads a ddml model file, evaluates F^DDD (same parameters as the DDD forces modifier) and the GNN's nodal
    velocities, and shows them as arrows coloured by speed.

    Outputs: `Vectors` 'ddml-velocities' (Direction = V in m/s, drawn `arrow_scale` Å per m/s or automatic, property Speed in
    m/s); with `show_predicted`, `Lines` 'ddml-predicted': the network moved to r + V dt (dt = `dt_ps`), drawn
    beside the DXA lines; attributes GNN.max_speed_m_s, GNN.mean_speed_m_s, GNN.model.
    """

    model_path = FilePath(label="ddml model file (relative: cwd, then next to the input files)")
    show_predicted = Bool(False, label="Draw the predicted network at t + dt", **DISPLAY)
    dt_ps = Float(1.0, label="dt for the predicted network (ps)", **DISPLAY)
    predicted_color = Color((1.0, 0.45, 0.0), label="Predicted network colour", **DISPLAY)
    arrow_scale = Float(0.0, label="Arrow length (Å per m/s, 0 = automatic)", **DISPLAY)
    arrow_width = Float(0.6, label="Arrow width (Å)", **DISPLAY)
    line_width = Float(1.0, label="Predicted line width (Å)", **DISPLAY)

    who = "GNN velocities (ddml)"
    LIMITS = {"dt_ps": (0.0, 1e9, False), "arrow_scale": (0.0, 1e9, False), "arrow_width": (0.0, 1e6, False),
              "line_width": (0.0, 1e6, False)}

    def velocities(self, data, frame, data_cache):
        """(network, velocities b/s) of `frame`, computed once per frame and parameter set."""
        net, forces, stress, _, print_ = self.network_and_forces(data, frame, data_cache)
        key = f"ddml.gnn.f{frame}"
        hit = cache_get(data_cache, key, ("velocities",))
        if hit is None:
            mobility = load_gnn(self.model_path, self.who, data)
            memo_key = ("gnn", self.physics_key(), stress.tobytes(), print_, mobility.path,
                        os.stat(mobility.path).st_mtime_ns)
            hit = memo_get(memo_key)
            if hit is None:
                hit = {"velocities": mobility.velocities(net, forces) if net.num_nodes else np.zeros((0, 3))}
                memo_put(memo_key, hit)
            cache_put(data_cache, key, hit)
        return net, hit["velocities"]

    def modify(self, data, *, frame, data_cache, **kwargs):
        yield "ddml: GNN velocities"
        check_parameters(self)
        load_gnn(self.model_path, self.who, data)  # clear error before any work
        net, v_b = self.velocities(data, frame, data_cache)
        yield 0.9
        mat = self.material_preset()
        v_ms = mat.velocity_to_m_per_s(v_b)
        speed = np.linalg.norm(v_ms, axis=1)
        top = float(speed.max()) if len(speed) else 0.0
        if net.num_nodes:
            add_vectors(data, "ddml-velocities", to_angstrom(net.cell.wrap(net.positions), mat), v_ms,
                        {"Speed": speed},
                        {"scaling": arrow_scaling(self.arrow_scale, top, to_angstrom(net.cell.lengths, mat)),
                         "width": self.arrow_width, "color_mapping_property": "Speed",
                         "color_mapping_interval": (0.0, max(top, 1e-30)), "title": "ddml velocities",
                         "legend_title": "speed (m/s)"})
        if self.show_predicted and net.num_segments:
            moved = net.positions + v_b * (self.dt_ps * PS)
            add_segment_lines(data, "ddml-predicted", to_angstrom(segment_vertices(net, moved), mat), {},
                              {"width": self.line_width, "color": tuple(self.predicted_color),
                               "wrapped_lines": True, "title": "ddml predicted network"})
        data.attributes["GNN.max_speed_m_s"] = top
        data.attributes["GNN.mean_speed_m_s"] = float(speed.mean()) if len(speed) else 0.0
        data.attributes["GNN.model"] = str(self.model_path)
