"""Loading: stress control, uniaxial strain-rate control, plastic strain from swept area, density.

Plastic strain increment of a step (ParaDiS convention, PK force f = (sigma.b) x xi):
  d eps_p = (1/V) sum_segments sym(b (x) dA),  dA = 1/2 (x2' - x1) x (x1' - x2),
the area vector swept by segment (x1, x2) moving to (x1', x2'); for a rigid translation delta this is
(x2 - x1) x delta, so that sigma : d eps_p V equals the work of the PK force.
Uniaxial strain-rate control along unit vector e (ExaDiS): d sigma = E (rate dt - d eps_p : A) A, A = e (x) e,
E = 2 mu (1 + nu), or E(e) = 1/(A : S : A) of the crystal's cubic compliance S.
Deforming cell (an MD box under uniaxial stress, lateral and shear stresses held at zero): the cell follows the
total strain eps = S : sigma + eps_p, applied as a true (logarithmic) strain, H = expm(eps) H0, and carries the
nodes affinely; its axial part is rate * t exactly, like the MD box's true strain.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
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

    @classmethod
    def with_compliance(cls, rate: float, compliance_tensor: np.ndarray, direction: np.ndarray
                        ) -> "UniaxialStrainRate":
        """The loading whose modulus is the compliance's Young modulus along `direction`, E = 1/(A : S : A)."""
        from ddml_engine.elasticity import youngs_modulus_along

        return cls(rate=rate, youngs_modulus=youngs_modulus_along(compliance_tensor, direction), direction=direction)

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


def symmetric_expm(strain: np.ndarray) -> np.ndarray:
    """expm of a symmetric 3x3 tensor (the stretch of a true strain) by its eigen decomposition."""
    values, vectors = np.linalg.eigh(0.5 * (strain + strain.T))
    return (vectors * np.exp(values)) @ vectors.T


@dataclass
class DeformingCell:
    """The periodic cell of a uniaxial-stress run deforms like an MD box whose lateral and shear stresses are held
    at zero: total strain eps = S : sigma + eps_p (S the loading's compliance, eps_p the plastic strain of the
    swept areas), applied as a true strain, H = expm(eps) H0 about the cell centre (H0 the start cell).

    Nodes are carried affinely, x -> c + F (x - c) with F the stretch since the last update: their fractional
    coordinates are kept, as the training pairs of a deforming MD box are compared (ml.dataset.affine_map);
    glide-plane normals go with them (n -> F^-T n, normalised), so that segments stay in their planes. The cell
    is rebuilt when eps has moved by more than `tolerance` since the last update (the FFT Green operator is
    rebuilt with it); `cell_strain` is the strain of the current cell.
    """

    compliance: np.ndarray  # S_ijkl (1/Pa)
    tolerance: float = 1e-3
    cell_strain: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))

    def total_strain(self, stress_voigt: np.ndarray, plastic_strain: np.ndarray) -> np.ndarray:
        """eps = S : sigma + eps_p (3x3)."""
        from ddml_engine.forces.local import voigt_to_tensor

        elastic = np.einsum("ijkl,kl->ij", self.compliance, voigt_to_tensor(np.asarray(stress_voigt, float)))
        plastic = np.asarray(plastic_strain, float)
        return elastic + 0.5 * (plastic + plastic.T)

    def follow(self, network: DislocationNetwork, stress_voigt: np.ndarray, plastic_strain: np.ndarray,
               exact: bool = False) -> DislocationNetwork:
        """The network in the cell of the current total strain (the same network when it moved less than
        `tolerance` since the last update, unless `exact`: snapshots are written in the exact cell)."""
        strain = self.total_strain(stress_voigt, plastic_strain)
        change = np.max(np.abs(strain - self.cell_strain))
        if change == 0.0 or (change <= self.tolerance and not exact):
            return network
        from ddml_engine.network import Cell

        old = network.cell
        # H = expm(eps) expm(eps_last)^-1 H_last = expm(eps) H0: from the current cell alone, so that a run restarted
        # from a frame (its cell and cell_strain) continues bit for bit
        stretch = symmetric_expm(strain) @ symmetric_expm(-self.cell_strain)
        centre = old.center
        matrix = stretch @ old.matrix
        cell = Cell(matrix, centre - 0.5 * matrix.sum(axis=1), old.periodic)
        positions = centre + (network.positions - centre) @ stretch.T
        planes = network.planes @ np.linalg.inv(stretch)  # rows n^T F^-1 = (F^-T n)^T
        norms = np.linalg.norm(planes, axis=1, keepdims=True)
        planes = np.where(norms > 0, planes / np.where(norms > 0, norms, 1.0), planes)
        self.cell_strain = strain
        return replace(network, cell=cell, positions=positions, planes=planes)
