"""Base class of the modifiers that need the frame's engine network and its DDD forces (shared physics traits,
per-frame caching in OVITO's `data_cache`)."""
from __future__ import annotations

import numpy as np
from ovito.data import DataCollection
from ovito.pipeline import ModifierInterface
from traits.api import Bool, Enum, Float, Int

from ddml_engine.forces.model import FORCE_MODELS
from ddml_engine.network import DislocationNetwork
from ovito_modifiers._common import (BCC_PRESETS, NETWORK_KEYS, bcc_material, cache_get, cache_put, ddd_forces,
                                     dxa_network, frame_stress, network_arrays, network_from_arrays)

#: display-only traits carry this metadata: changing them re-draws from the cache without recomputing
DISPLAY = {"ovito_invalidate_cache": False}


class NetworkForcesModifier(ModifierInterface):
    """Shared physics parameters: material, force model, applied stress, remeshing."""

    material = Enum(*BCC_PRESETS, label="Material preset (BCC)")
    force_model = Enum("elastic", *[m for m in FORCE_MODELS if m != "elastic"], label="Force model")
    cutoff = Float(0.0, label="Pair cutoff (b, elastic-cutoff model)")
    fft_grid = Int(64, label="FFT grid (fft model)")
    stress_from_attributes = Bool(True, label="Use the frame's stress attributes when present")
    stress_xx = Float(0.0, label="Stress xx (GPa)")
    stress_yy = Float(0.0, label="Stress yy (GPa)")
    stress_zz = Float(0.0, label="Stress zz (GPa)")
    stress_yz = Float(0.0, label="Stress yz (GPa)")
    stress_xz = Float(0.0, label="Stress xz (GPa)")
    stress_xy = Float(0.0, label="Stress xy (GPa)")
    remesh = Bool(True, label="Remesh the DXA lines")
    remesh_length = Float(10.0, label="Remesh segment length (b)")

    who = "ddml"

    @property
    def stress_gpa(self) -> np.ndarray:
        return np.array([self.stress_xx, self.stress_yy, self.stress_zz, self.stress_yz, self.stress_xz,
                         self.stress_xy])

    def material_preset(self):
        return bcc_material(self.material, self.who)

    def frame_network(self, data: DataCollection, remeshed: bool = True) -> DislocationNetwork:
        length = self.remesh_length if (self.remesh and remeshed) else 0.0
        return dxa_network(data, self.material_preset(), self.who, length)

    def network_and_forces(self, data: DataCollection, frame: int, data_cache: DataCollection):
        """(network, forces Pa*b^2, stress Pa, stress source) of `frame`, computed once per frame and parameter set."""
        key = f"ddml.forces.f{frame}"
        hit = cache_get(data_cache, key, NETWORK_KEYS + ("forces", "stress"))
        if hit is not None:
            return (network_from_arrays(hit), hit["forces"], hit["stress"],
                    str(data_cache.attributes[f"{key}.source"]))
        net = self.frame_network(data)
        stress, source = frame_stress(data, self.stress_gpa, self.stress_from_attributes)
        forces = ddd_forces(net, self.material_preset(), self.force_model, stress, self.cutoff, self.fft_grid)
        cache_put(data_cache, key, {**network_arrays(net), "forces": forces, "stress": stress})
        data_cache.attributes[f"{key}.source"] = source
        return net, forces, stress, source
