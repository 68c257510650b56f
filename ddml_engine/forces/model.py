"""Force models: compositions of the DDD nodal force terms (paper Eq. 2).

F_i^DDD = F_app + F_core (+ F_self + F_interaction). A force model is a callable object
`model(network, stress) -> (N, 3)` in Pa*b^2; `components` returns the individual terms for output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ddml_engine.forces.local import applied_forces, core_forces
from ddml_engine.materials import Material
from ddml_engine.network import DislocationNetwork


@runtime_checkable
class ForceModel(Protocol):
    material: Material

    def components(self, network: DislocationNetwork, stress: np.ndarray) -> dict[str, np.ndarray]:
        """Each force term as (N, 3) arrays, keyed by name."""

    def __call__(self, network: DislocationNetwork, stress: np.ndarray) -> np.ndarray:
        """Total nodal force (N, 3) for a uniform applied stress (Voigt 6-vector or 3x3, Pa)."""


class _Composite:
    material: Material

    def __call__(self, network: DislocationNetwork, stress: np.ndarray) -> np.ndarray:
        terms = self.components(network, stress)
        total = np.zeros((network.num_nodes, 3))
        for value in terms.values():
            total += value
        return total


@dataclass
class LineTensionModel(_Composite):
    """Applied Peach-Koehler force plus the core (line-tension) force: F = F_app + F_core."""

    material: Material

    def components(self, network: DislocationNetwork, stress: np.ndarray) -> dict[str, np.ndarray]:
        return {"applied": applied_forces(network, stress),
                "core": core_forces(network, self.material.Ec, self.material.nu)}


@dataclass
class ElasticModel(_Composite):
    """Line tension plus non-singular isotropic elasticity (Cai et al., JMPS 2006).

    F = F_app + F_core + F_self + F_interaction; segment pairs within `cutoff` (units of b, nearest image) when
    given, all pairs otherwise.
    """

    material: Material
    cutoff: float | None = None

    def components(self, network: DislocationNetwork, stress: np.ndarray) -> dict[str, np.ndarray]:
        from ddml_engine.forces.elastic import interaction_forces, self_forces

        m = self.material
        return {"applied": applied_forces(network, stress),
                "core": core_forces(network, m.Ec, m.nu),
                "self": self_forces(network, m.mu, m.nu, m.core_radius),
                "interaction": interaction_forces(network, m.mu, m.nu, m.core_radius, cutoff=self.cutoff)}


@dataclass
class FFTModel(_Composite):
    """Line tension plus elasticity with FFT long range and exact non-singular short range (DDD-FFT).

    `grid` points per cell axis; see ddml_engine.forces.fft for the spreading radius and correction cutoff.
    """

    material: Material
    grid: int = 64

    def __post_init__(self) -> None:
        from ddml_engine.forces.fft import FFTLongRange

        m = self.material
        self.long_range = FFTLongRange(m.mu, m.nu, m.core_radius, grid=self.grid)

    def pre_compute(self, network: DislocationNetwork) -> None:
        """Freeze the long-range grid stress for the evaluations of one DDD step (see FFTLongRange)."""
        self.long_range.precompute(network)

    def components(self, network: DislocationNetwork, stress: np.ndarray) -> dict[str, np.ndarray]:
        m = self.material
        return {"applied": applied_forces(network, stress),
                "core": core_forces(network, m.Ec, m.nu),
                "elastic": self.long_range(network)}


FORCE_MODELS = ("line-tension", "elastic", "elastic-cutoff", "fft")


@dataclass(frozen=True)
class ForceModelSpec:
    """Name and parameters of a force model (what `make_force_model` needs besides the material); recorded in
    trajectory stores so that training recomputes F^DDD with the model that moved the trajectory."""

    name: str
    cutoff: float | None = None  # b, 'elastic-cutoff' only
    grid: int | None = None  # FFT mesh, 'fft' only

    @classmethod
    def of(cls, name: str, cutoff: float | None = None, grid: int | None = 64) -> "ForceModelSpec":
        """The spec keeping only the parameters the named model uses."""
        if name not in FORCE_MODELS:
            raise ValueError(f"unknown force model '{name}'; choose one of {', '.join(FORCE_MODELS)}")
        return cls(name, float(cutoff) if name == "elastic-cutoff" and cutoff else None,
                   int(grid) if name == "fft" and grid else None)

    def to_dict(self) -> dict:
        return {"name": self.name, "cutoff": self.cutoff, "grid": self.grid}

    @classmethod
    def from_dict(cls, data: dict) -> "ForceModelSpec":
        return cls.of(str(data["name"]), data.get("cutoff"), data.get("grid") or 64)

    def __str__(self) -> str:
        extra = f", cutoff {self.cutoff:g} b" if self.cutoff else (f", grid {self.grid}^3" if self.grid else "")
        return f"{self.name}{extra}"


def make_force_model(name: str, material: Material, cutoff: float | None = None, grid: int = 64) -> ForceModel:
    """Force model by name: 'line-tension', 'elastic' (all pairs), 'elastic-cutoff' (needs `cutoff`) or
    'fft' (FFT long range on a `grid`^3 mesh with exact short-range pairs)."""
    if name == "line-tension":
        return LineTensionModel(material)
    if name == "elastic":
        return ElasticModel(material)
    if name == "elastic-cutoff":
        if not cutoff or cutoff <= 0:
            raise ValueError("the 'elastic-cutoff' force model needs a positive cutoff (units of b)")
        return ElasticModel(material, cutoff=cutoff)
    if name == "fft":
        return FFTModel(material, grid=grid)
    raise ValueError(f"unknown force model '{name}'; choose one of {', '.join(FORCE_MODELS)}")
