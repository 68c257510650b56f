"""Material presets (isotropic elasticity) and unit conversions at the engine's edges.

Engine units: length in b, stress in Pa, time in s. `Material` carries what forces and mobilities need.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

ANGSTROM = 1e-10  # m
GPA = 1e9  # Pa
BAR = 1e5  # Pa


@dataclass(frozen=True)
class Material:
    """Isotropic elastic constants and core parameters.

    burgers_m: Burgers-vector magnitude b (m); mu: shear modulus (Pa); nu: Poisson ratio;
    core_radius: non-singular core spreading a (units of b); core_energy: Ec (Pa), default
    mu/(4 pi) ln(a/0.1) as in ExaDiS; crystal: lattice type ('bcc', 'fcc'); cubic_constants: (C11, C12, C44) in
    Pa when known, used by loadings that follow the crystal's elastic response (`loading.elastic = "cubic"`); the
    DDD forces always use the isotropic mu and nu.
    """

    name: str
    burgers_m: float
    mu: float
    nu: float
    core_radius: float = 1.0
    core_energy: float | None = None
    crystal: str = "bcc"
    cubic_constants: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.cubic_constants is not None:  # JSON gives a list; keep the dataclass hashable
            object.__setattr__(self, "cubic_constants", tuple(float(c) for c in self.cubic_constants))

    def compliance(self, elastic: str = "isotropic"):
        """Compliance S_ijkl (1/Pa) of the loading's elastic response: 'isotropic' (mu, nu) or 'cubic'
        (cubic_constants; ValueError when the material has none)."""
        from ddml_engine.elasticity import compliance, cubic_stiffness, isotropic_stiffness

        if elastic == "isotropic":
            return compliance(isotropic_stiffness(self.mu, self.nu))
        if elastic == "cubic":
            if self.cubic_constants is None:
                raise ValueError(f"material {self.name} has no cubic elastic constants: set "
                                 f"material.cubic_constants_GPa = [C11, C12, C44] or use loading.elastic = "
                                 f"\"isotropic\"")
            return compliance(cubic_stiffness(*self.cubic_constants))
        raise ValueError(f"elastic response must be 'isotropic' or 'cubic', got {elastic!r}")

    @property
    def Ec(self) -> float:
        """Core energy per unit length (Pa*b^2 per b, i.e. Pa): ExaDiS default mu/(4 pi) ln(a/0.1)."""
        if self.core_energy is not None:
            return self.core_energy
        return self.mu / (4.0 * math.pi) * math.log(self.core_radius / 0.1)

    def describe(self) -> str:
        """One line with units: name, lattice, b, mu, nu, core radius and energy."""
        return (f"{self.name} ({self.crystal.upper()}, b = {self.burgers_m * 1e10:.4g} A, mu = {self.mu / 1e9:.4g} "
                f"GPa, nu = {self.nu:.4g}, core radius {self.core_radius:.3g} b, Ec = {self.Ec / 1e9:.4g} GPa)")

    @property
    def youngs_modulus(self) -> float:
        """E = 2 mu (1 + nu)."""
        return 2.0 * self.mu * (1.0 + self.nu)

    def with_overrides(self, **changes: float | str | None) -> "Material":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def angstrom_to_b(self, x):
        return x * (ANGSTROM / self.burgers_m)

    def b_to_angstrom(self, x):
        return x * (self.burgers_m / ANGSTROM)

    def velocity_to_m_per_s(self, v):
        """b/s -> m/s."""
        return v * self.burgers_m


PRESETS: dict[str, Material] = {
    # W at 300 K, as in Bertin, Bulatov & Zhou (2024).
    "W": Material("W", burgers_m=2.743e-10, mu=149.78e9, nu=0.289, crystal="bcc"),
    # W as the MD potential of ddml_engine.md (Finnis-Sinclair W, eam/fs) measured at 300 K: use it for DDD on
    # networks extracted from ddml's own MD (C11/C12/C44 = 480.7/209.7/163.3 GPa, Hill average).
    "W-FS": Material("W-FS", burgers_m=2.7430e-10, mu=151.6e9, nu=0.284, crystal="bcc",
                     cubic_constants=(480.7e9, 209.7e9, 163.3e9)),
    # Ta, the ExaDiS BCC example.
    "Ta": Material("Ta", burgers_m=2.85e-10, mu=55.0e9, nu=0.339, crystal="bcc"),
    # Cu, the ParaDiS/ExaDiS FCC example (shared cu_180chains file).
    "Cu": Material("Cu", burgers_m=2.55e-10, mu=54.6e9, nu=0.324, crystal="fcc"),
}


def material(name: str, **overrides: float | str | None) -> Material:
    """Preset by name (case-insensitive) with optional overrides, e.g. material('W', core_radius=2)."""
    for key, preset in PRESETS.items():
        if key.lower() == name.lower():
            return preset.with_overrides(**overrides)
    raise KeyError(f"unknown material '{name}'; presets: {', '.join(PRESETS)}")
