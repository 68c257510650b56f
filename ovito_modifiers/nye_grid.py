"""OVITO modifier: Nye dislocation-density tensor field alpha_ij(x) = sum_seg int b_i t_j w(x - x(s)) ds of the
upstream DXA network on a periodic voxel grid (Gaussian kernel, spectral; Bertin, Bulatov & Zhou 2024, Eq. 5)."""
from __future__ import annotations

import numpy as np
from ovito.data import DataCollection, SimulationCell, VoxelGrid
from ovito.pipeline import ModifierInterface
from traits.api import Bool, Enum, Float, Range

from ddml_engine.materials import ANGSTROM
from ddml_engine.network import DislocationNetwork
from ddml_engine.nye import network_nye_field
from ovito_modifiers._base import DISPLAY
from ovito_modifiers._common import (BCC_PRESETS, DDMLModifierError, _legend, bcc_material, cache_get, cache_put,
                                     check_parameters, convert_dxa, dxa_arrays, fingerprint, memo_get, memo_put,
                                     require_dislocations)

NYE_COMPONENTS = ["XX", "XY", "XZ", "YX", "YY", "YZ", "ZX", "ZY", "ZZ"]


def sigma_b(net: DislocationNetwork, resolution: int, sigma_angstrom: float, b_angstrom: float,
            spacings: float) -> float:
    """Kernel width in b: `sigma_angstrom` when > 0, else `spacings` grid spacings (V / n^3)^(1/3)."""
    if sigma_angstrom > 0:
        return sigma_angstrom / b_angstrom
    return spacings * net.cell.volume ** (1.0 / 3.0) / resolution


def nye_grid(net: DislocationNetwork, resolution: int, sigma: float) -> np.ndarray:
    """alpha (n, n, n, 3, 3) in 1/b at the grid points origin + H idx / n (engine, spectral)."""
    return network_nye_field(net, resolution, sigma)


def add_tensor_grid(data: DataCollection, identifier: str, net_cell_matrix_A: np.ndarray, origin_A: np.ndarray,
                    fields: dict[str, np.ndarray], vis: dict) -> VoxelGrid:
    """Point-data VoxelGrid on the periodic cell; 9-component tensors get XX..ZZ names, scalars one column."""
    matrix = np.zeros((3, 4))
    matrix[:, :3], matrix[:, 3] = net_cell_matrix_A, origin_A
    domain = SimulationCell(matrix=matrix, pbc=(True, True, True))
    first = next(iter(fields.values()))
    grid = data.grids.create(identifier=identifier, domain=domain, shape=first.shape[:3],
                             grid_type=VoxelGrid.GridType.PointData, vis_params=_legend(data, identifier, vis))
    for name, value in fields.items():
        n = int(np.prod(value.shape[:3]))
        # OVITO's linear storage: x fastest, z slowest
        flat = np.moveaxis(value.reshape(value.shape[:3] + (-1,)), (0, 1, 2), (2, 1, 0)).reshape(n, -1)
        if flat.shape[1] == 9:
            grid.create_property(name, data=flat, components=NYE_COMPONENTS)
        else:
            grid.create_property(name, data=flat[:, 0])
    return grid


class NyeGridModifier(ModifierInterface):
    """Nye tensor of the DXA network on a `resolution`^3 point grid over the periodic cell.

    Outputs: `VoxelGrid` 'ddml-nye' with 'Nye Tensor' (9 components XX..ZZ = alpha_ij, in 1/Å) and 'Nye Norm'
    (Frobenius norm, 1/Å); attributes Nye.max_norm_per_A (1/Å), Nye.sigma_A (Å). The kernel width `sigma` (Å) defaults
    to 2 grid spacings (0 = automatic).
    """

    material = Enum(*BCC_PRESETS, label="Material preset (BCC, sets b)")
    resolution = Range(4, 256, 32, label="Grid points per cell vector")
    sigma = Float(0.0, label="Smoothing width (Å, 0 = 2 grid spacings)")
    color_by = Enum("Nye Norm", *[f"Nye Tensor.{c}" for c in NYE_COMPONENTS], label="Colour grid by", **DISPLAY)
    transparency = Range(0.0, 1.0, 0.8, label="Grid transparency (translucent: lines stay visible)", **DISPLAY)
    show_grid = Bool(True, label="Render the grid", **DISPLAY)

    who = "Nye tensor grid (ddml)"
    LIMITS = {"sigma": (0.0, 1e6, False)}

    def modify(self, data, *, frame, data_cache, **kwargs):
        yield "ddml: Nye tensor field"
        check_parameters(self)
        mat = bcc_material(self.material, self.who)
        b_A = mat.burgers_m / ANGSTROM
        key = f"ddml.nye.f{frame}"
        hit = cache_get(data_cache, key, ("alpha", "cell_matrix", "cell_origin", "sigma"))
        if hit is None:
            arrays = dxa_arrays(require_dislocations(data, self.who))
            memo_key = ("nye", self.material, self.resolution, self.sigma, fingerprint(arrays))
            hit = memo_get(memo_key)
            if hit is None:
                net = convert_dxa(arrays, mat, self.who)
                if not all(net.cell.periodic):
                    raise DDMLModifierError(f"{self.who}: the spectral Nye field needs a fully periodic cell, "
                                            f"got pbc={net.cell.periodic}")
                s = sigma_b(net, self.resolution, self.sigma, b_A, 2.0)
                yield 0.2
                hit = {"alpha": nye_grid(net, self.resolution, s), "cell_matrix": net.cell.matrix,
                       "cell_origin": net.cell.origin, "sigma": np.array([s])}
                memo_put(memo_key, hit)
            cache_put(data_cache, key, hit)
        yield 0.9
        alpha = hit["alpha"] / b_A  # 1/b -> 1/Å
        norm = np.sqrt((alpha**2).sum(axis=(3, 4)))
        lo, hi = (0.0, float(norm.max())) if self.color_by == "Nye Norm" else (float(alpha.min()), float(alpha.max()))
        add_tensor_grid(data, "ddml-nye", hit["cell_matrix"] * b_A, hit["cell_origin"] * b_A,
                        {"Nye Tensor": alpha, "Nye Norm": norm},
                        {"enabled": self.show_grid, "transparency": self.transparency, "highlight_grid_lines": False,
                         "color_mapping_property": self.color_by,
                         "color_mapping_interval": (lo, max(hi, lo + 1e-30)), "title": "ddml Nye tensor",
                         "legend_title": f"{self.color_by} (1/Å)"})
        data.attributes["Nye.max_norm_per_A"] = float(norm.max())
        data.attributes["Nye.sigma_A"] = float(hit["sigma"][0] * b_A)
