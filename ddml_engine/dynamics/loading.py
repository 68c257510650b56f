"""Loading: stress control, uniaxial strain-rate control, plastic strain from swept area, density.

Plastic strain increment of a step (ParaDiS convention, PK force f = (sigma.b) x xi):
  d eps_p = (1/V) sum_segments sym(b (x) dA),  dA = 1/2 (x2' - x1) x (x1' - x2),
the area vector swept by segment (x1, x2) moving to (x1', x2'); for a rigid translation delta this is
(x2 - x1) x delta, so that sigma : d eps_p V equals the work of the PK force.
Uniaxial strain-rate control along unit vector e (ExaDiS): d sigma = E (rate dt - d eps_p : A) A, A = e (x) e,
E = 2 mu (1 + nu).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ddml_engine.forces.local import tensor_to_voigt
from ddml_engine.network import DislocationNetwork


def swept_area_vectors(old: DislocationNetwork, new: DislocationNetwork) -> np.ndarray:
    """Area vectors dA (M, 3) swept by each segment between two networks with the same topology (units b^2)."""
    x1, x2 = old.segment_endpoints()
    d1 = old.cell.minimum_image(new.positions[old.segments[:, 0]] - old.positions[old.segments[:, 0]])
    d2 = old.cell.minimum_image(new.positions[old.segments[:, 1]] - old.positions[old.segments[:, 1]])
    x1n, x2n = x1 + d1, x2 + d2
    return 0.5 * np.cross(x2n - x1, x1n - x2)


def plastic_strain_increment(old: DislocationNetwork, new: DislocationNetwork) -> np.ndarray:
    """d eps_p (3x3) of the motion old -> new: (1/V) sum sym(b (x) dA)."""
    area = swept_area_vectors(old, new)
    distortion = old.burgers.T @ area / old.cell.volume
    return 0.5 * (distortion + distortion.T)


class Loading(Protocol):
    """Applied stress as a function of the step's plastic strain increment."""

    def stress(self) -> np.ndarray:
        """Current applied stress (Voigt, Pa)."""

    def advance(self, dt: float, d_eps_plastic: np.ndarray) -> None:
        """Update after a step of length dt with plastic strain increment (3x3)."""


@dataclass
class StressControl:
    """Constant applied stress (Voigt, Pa); total strain = plastic strain only (rigid elastic response)."""

    applied: np.ndarray
    strain: float = 0.0

    def stress(self) -> np.ndarray:
        return np.asarray(self.applied, float)

    def advance(self, dt: float, d_eps_plastic: np.ndarray) -> None:
        pass


@dataclass
class UniaxialStrainRate:
    """Uniaxial strain-rate control along `direction` at `rate` (1/s; negative = compression).

    sigma = s A with A = e (x) e; ds = E (rate dt - d eps_p : A) (ExaDiS `strain_rate` loading).
    `strain` is the total axial strain, `plastic_strain` the axial plastic strain eps_p : A.
    """

    rate: float
    youngs_modulus: float
    direction: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    axial_stress: float = 0.0
    strain: float = 0.0
    plastic_strain: float = 0.0

    def __post_init__(self) -> None:
        e = np.asarray(self.direction, float)
        self.direction = e / np.linalg.norm(e)

    @property
    def projector(self) -> np.ndarray:
        return np.outer(self.direction, self.direction)

    def stress(self) -> np.ndarray:
        return tensor_to_voigt(self.axial_stress * self.projector)

    def advance(self, dt: float, d_eps_plastic: np.ndarray) -> None:
        d_axial_plastic = float(np.sum(d_eps_plastic * self.projector))
        self.strain += self.rate * dt
        self.plastic_strain += d_axial_plastic
        self.axial_stress += self.youngs_modulus * (self.rate * dt - d_axial_plastic)
