"""Base class of the modifiers that need the frame's engine network and its DDD forces (shared physics traits,
per-frame caching in OVITO's `data_cache`)."""
from __future__ import annotations

import numpy as np
from ovito.data import DataCollection
from ovito.pipeline import ModifierInterface
from traits.api import Bool, Enum, Float, Int

from ddml_engine.forces.model import FORCE_MODELS
from ovito_modifiers._common import (BCC_PRESETS, NETWORK_KEYS, bcc_material, cache_get, cache_put, check_parameters,
                                     convert_dxa, ddd_forces, dxa_arrays, fingerprint, frame_stress, memo_get,
                                     memo_put, network_arrays, network_from_arrays, require_dislocations)

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
    #: checked by _common.check_parameters before any work: name -> (low, high, low excluded)
    LIMITS = {"cutoff": (0.0, 1e7, False), "fft_grid": (4, 1024, False), "remesh_length": (0.01, 1e5, False),
              **{f"stress_{c}": (-1e4, 1e4, False) for c in ("xx", "yy", "zz", "yz", "xz", "xy")}}

    @property
    def stress_gpa(self) -> np.ndarray:
        return np.array([self.stress_xx, self.stress_yy, self.stress_zz, self.stress_yz, self.stress_xz,
                         self.stress_xy])

    def material_preset(self):
        return bcc_material(self.material, self.who)

    def physics_key(self) -> tuple:
        """Everything the network and forces depend on besides the DXA input and the frame's stress."""
        return (type(self).__name__, self.material, self.force_model, self.cutoff, self.fft_grid, self.remesh,
                self.remesh_length)

    def network_and_forces(self, data: DataCollection, frame: int, data_cache: DataCollection):
        """(network, forces Pa*b^2, stress Pa, stress source, input fingerprint) of `frame`, computed once per frame,
        input and parameter set (see the two cache levels in `_common`)."""
        check_parameters(self)
        key = f"ddml.forces.f{frame}"
        hit = cache_get(data_cache, key, NETWORK_KEYS + ("forces", "stress"))
        if hit is None:
            arrays = dxa_arrays(require_dislocations(data, self.who))
            stress, source = frame_stress(data, self.stress_gpa, self.stress_from_attributes)
            print_ = fingerprint(arrays)
            memo_key = ("forces", self.physics_key(), stress.tobytes(), print_)
            hit = memo_get(memo_key)
            if hit is None:
                mat = self.material_preset()
                net = convert_dxa(arrays, mat, self.who, self.remesh_length if self.remesh else 0.0)
                forces = ddd_forces(net, mat, self.force_model, stress, self.cutoff, self.fft_grid)
                hit = {**network_arrays(net), "forces": forces, "stress": stress}
                memo_put(memo_key, hit)
            cache_put(data_cache, key, hit)
            data_cache.attributes[f"{key}.source"] = source
            data_cache.attributes[f"{key}.fingerprint"] = print_
        return (network_from_arrays(hit), hit["forces"], hit["stress"], str(data_cache.attributes[f"{key}.source"]),
                str(data_cache.attributes[f"{key}.fingerprint"]))
