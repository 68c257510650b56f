"""OVITO modifier: the next-frame Nye check — the training loss of Bertin, Bulatov & Zhou 2024 (Eq. 5) made
visible. From frame t: F^DDD, V = M[F] (GNN model file, or the linear BCC law as reference), nodes moved to
r + V dt; compared with the DXA network of frame t + 1 through Nye's tensor on a periodic grid:

    mismatch = mean_grid |alpha(r^t + V dt, b^t) - alpha(r^{t+1}, b^{t+1})|^2.
"""
from __future__ import annotations

import math
import os

import numpy as np
from ovito.traits import FilePath
from traits.api import Bool, Enum, Float, Range

from ddml_engine.materials import ANGSTROM
from ddml_engine.mobility.bcc import BCCLinearMobility
from ovito_modifiers._base import DISPLAY, NetworkForcesModifier
from ovito_modifiers._common import (cache_get, cache_put, check_parameters, convert_dxa, dxa_arrays, fingerprint,
                                     load_gnn, memo_get, memo_put, require_dislocations, resolve_model_path)
from ovito_modifiers.nye_grid import add_tensor_grid, nye_grid, sigma_b

PS = 1e-12


ATTRIBUTES = ("mismatch_per_A2", "relative", "baseline_relative", "dt_ps")  # NextFrame.<name>, units in the name


class NextFrameCheckModifier(NetworkForcesModifier):
    """Per frame t < last: predicted alpha(r + V dt) vs the DXA alpha of frame t + 1.

    Outputs: attributes NextFrame.mismatch_per_A2 (mean over the grid of |d alpha|^2, 1/Å^2), NextFrame.relative
    (sum |d alpha|^2 / sum |alpha_{t+1}|^2), NextFrame.baseline_relative (the same with V = 0: does the mobility
    law beat standing still?), NextFrame.dt_ps; `VoxelGrid` 'ddml-nye-mismatch' with 'Nye Mismatch' (9
    components, alpha_pred - alpha_next, 1/Å) and 'Mismatch Norm'. dt: the difference of the frames' 'Time'
    attributes (ps, LAMMPS metal units) when both have one, else `dt_ps`. On the last frame the attributes are NaN.
    """

    mobility = Enum("gnn", "linear-bcc", label="Mobility law (GNN model file or linear BCC reference)")
    model_path = FilePath(label="ddml model file (relative: cwd, then next to the input files)")
    dt_ps = Float(1.0, label="Time between frames (ps), when frames have no 'Time'")
    resolution = Range(4, 128, 32, label="Grid points per cell vector")
    sigma = Float(0.0, label="Smoothing width (Å, 0 = 2 grid spacings)")
    transparency = Range(0.0, 1.0, 0.8, label="Grid transparency (translucent: lines stay visible)", **DISPLAY)
    show_grid = Bool(True, label="Render the grid", **DISPLAY)

    who = "Next-frame Nye check (ddml)"
    LIMITS = {"dt_ps": (0.0, 1e9, False), "sigma": (0.0, 1e6, False)}

    def input_caching_hints(self, frame, **kwargs):
        return [frame, frame + 1]

    def mobility_law(self, data):
        if self.mobility == "gnn":
            return load_gnn(self.model_path, self.who, data)
        return BCCLinearMobility(burgers_m=self.material_preset().burgers_m)

    def modify(self, data, *, frame, input_slots, data_cache, **kwargs):
        yield "ddml: next-frame Nye check"
        check_parameters(self)
        upstream = input_slots["upstream"]
        mat = self.material_preset()
        b_A = mat.burgers_m / ANGSTROM
        if self.mobility == "gnn":
            load_gnn(self.model_path, self.who, data)  # clear error before any work
        if frame + 1 >= upstream.num_frames:
            for name in ATTRIBUTES:
                data.attributes[f"NextFrame.{name}"] = math.nan
            return
        key = f"ddml.next.f{frame}"
        hit = cache_get(data_cache, key, ("difference", "scalars", "cell_matrix", "cell_origin"))
        if hit is None:
            net, forces, stress, _, print_t = self.network_and_forces(data, frame, data_cache)
            yield 0.3
            following = upstream.compute(frame + 1)
            arrays_next = dxa_arrays(require_dislocations(following, self.who))
            times = data.attributes.get("Time"), following.attributes.get("Time")
            dt_ps = float(times[1] - times[0]) if None not in times else float(self.dt_ps)
            path = resolve_model_path(self.model_path, data) if self.mobility == "gnn" else ""
            model = (path, os.stat(path).st_mtime_ns) if path else None
            memo_key = ("next", self.physics_key(), stress.tobytes(), print_t, fingerprint(arrays_next),
                        self.mobility, model, dt_ps, self.resolution, self.sigma)
            hit = memo_get(memo_key)
            if hit is None:
                v = self.mobility_law(data).velocities(net, forces) if net.num_nodes else np.zeros((0, 3))
                yield 0.5
                net_next = convert_dxa(arrays_next, mat, self.who)
                s = sigma_b(net, self.resolution, self.sigma, b_A, 2.0)
                alpha_pred = nye_grid(net.with_positions(net.positions + v * dt_ps * PS), self.resolution, s)
                alpha_now = nye_grid(net, self.resolution, s)
                alpha_next = nye_grid(net_next, self.resolution, s)
                yield 0.9
                diff = alpha_pred - alpha_next
                target = max(float((alpha_next**2).sum()), 1e-300)
                scalars = np.array([float((diff**2).sum(axis=(3, 4)).mean()) / b_A**2,
                                    float((diff**2).sum()) / target,
                                    float(((alpha_now - alpha_next) ** 2).sum()) / target, dt_ps])
                hit = {"difference": diff, "scalars": scalars, "cell_matrix": net.cell.matrix,
                       "cell_origin": net.cell.origin}
                memo_put(memo_key, hit)
            cache_put(data_cache, key, hit)
        diff = hit["difference"] / b_A
        norm = np.sqrt((diff**2).sum(axis=(3, 4)))
        add_tensor_grid(data, "ddml-nye-mismatch", hit["cell_matrix"] * b_A, hit["cell_origin"] * b_A,
                        {"Nye Mismatch": diff, "Mismatch Norm": norm},
                        {"enabled": self.show_grid, "transparency": self.transparency, "highlight_grid_lines": False,
                         "color_mapping_property": "Mismatch Norm",
                         "color_mapping_interval": (0.0, max(float(norm.max()), 1e-30)),
                         "title": "ddml next-frame mismatch", "legend_title": "Nye mismatch norm (1/Å)"})
        for name, value in zip(ATTRIBUTES, hit["scalars"]):
            data.attributes[f"NextFrame.{name}"] = float(value)
