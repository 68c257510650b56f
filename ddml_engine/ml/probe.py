"""Mobility probe (paper section 2.2, Fig. 3): velocity of infinite straight edge and screw dislocations vs stress.

A straight periodic line of character theta on the glide system (b, n) is loaded by a shear stress tau acting on
a plane rotated by chi about b (chi = 0: the glide plane; for screws chi = -30 / +30 deg are the MRSSPs of the
twinning / anti-twinning sense in the paper's convention), F = F_app(tau) only (no line tension: a straight line has
none). The glide velocity v = V . (n x t) is fitted as v = M tau b (least squares through the origin; b = 1 in
engine units). Works with any Mobility (linear BCC law, a trained GNN model file, ...).

`probe_characters` extends it for validation: edge, 60 deg, 30 deg and screw lines on the glide plane and the
screw on the twinning / anti-twinning MRSSPs, each with its glide velocity, its out-of-plane (climb) velocity
V . n for the non-screw characters (a screw has no climb: every plane containing it is a glide plane), and,
given a reference mobility (the true law of a validation), the pointwise relative error of the glide velocity.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ddml_engine.forces.local import applied_forces, tensor_to_voigt
from ddml_engine.geometry import line_direction, straight_line
from ddml_engine.mobility.base import Mobility

# The reference glide system: b = 1/2[111] (units of b), n = (1-10).
PROBE_BURGERS = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
PROBE_PLANE = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
DEFAULT_TAUS = np.linspace(50e6, 500e6, 10)


def shear_on_rotated_plane(tau: float, burgers: np.ndarray, plane: np.ndarray, chi_deg: float) -> np.ndarray:
    """Voigt stress tau (b^ m + m b^) with m the glide-plane normal rotated by chi about b^.

    Its resolved shear stress on the glide plane n along b is tau cos(chi)."""
    bhat = burgers / np.linalg.norm(burgers)
    chi = np.deg2rad(chi_deg)
    m = np.cos(chi) * plane + np.sin(chi) * np.cross(bhat, plane)
    return tensor_to_voigt(tau * (np.outer(bhat, m) + np.outer(m, bhat)))


def line_velocities(mobility: Mobility, character_deg: float, taus: np.ndarray, chi_deg: float = 0.0,
                    length: float = 40.0, n_nodes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean glide velocity along n x t and mean out-of-plane velocity along n (b/s) of a straight line of the
    given character for each tau (Pa), F = F_app only."""
    t = line_direction(PROBE_BURGERS, PROBE_PLANE, character_deg)
    line = straight_line(length, t, PROBE_BURGERS, PROBE_PLANE, n_nodes, width=length)
    glide = np.cross(PROBE_PLANE, t)
    v_glide, v_normal = np.empty(len(taus)), np.empty(len(taus))
    for k, tau in enumerate(taus):
        forces = applied_forces(line, shear_on_rotated_plane(tau, PROBE_BURGERS, PROBE_PLANE, chi_deg))
        v = np.asarray(mobility.velocities(line, forces))
        v_glide[k], v_normal[k] = float(np.mean(v @ glide)), float(np.mean(v @ PROBE_PLANE))
    return v_glide, v_normal


def glide_velocities(mobility: Mobility, character_deg: float, taus: np.ndarray, chi_deg: float = 0.0,
                     length: float = 40.0, n_nodes: int = 8) -> np.ndarray:
    """Mean glide velocity (b/s) along n x t of a straight line of the given character for each tau (Pa)."""
    return line_velocities(mobility, character_deg, taus, chi_deg, length, n_nodes)[0]


def fit_mobility(taus: np.ndarray, velocities: np.ndarray) -> float:
    """M of v = M tau b through the origin (b = 1), in 1/(Pa s)."""
    taus, velocities = np.asarray(taus, float), np.asarray(velocities, float)
    return float(np.sum(taus * velocities) / np.sum(taus * taus))


@dataclass
class ProbeResult:
    taus_pa: list[float]
    edge_velocity: list[float]  # b/s
    screw_velocity: list[float]
    screw_twinning_velocity: list[float]  # chi = -30 deg
    screw_antitwinning_velocity: list[float]  # chi = +30 deg
    Me: float  # fitted, 1/(Pa s)
    Ms: float
    truth: dict = field(default_factory=dict)

    def errors_percent(self) -> dict:
        return {k: 100.0 * (getattr(self, k) - v) / v for k, v in self.truth.items() if v}


def probe(mobility: Mobility, taus: np.ndarray = DEFAULT_TAUS, truth: dict | None = None, length: float = 40.0,
          n_nodes: int = 8) -> ProbeResult:
    """Edge and screw velocities vs tau on the glide plane, and the screw on the MRSSPs chi = -30 / +30 deg."""
    taus = np.asarray(taus, float)
    kw = dict(length=length, n_nodes=n_nodes)
    edge = glide_velocities(mobility, 90.0, taus, **kw)
    screw = glide_velocities(mobility, 0.0, taus, **kw)
    return ProbeResult(taus.tolist(), edge.tolist(), screw.tolist(),
                       glide_velocities(mobility, 0.0, taus, chi_deg=-30.0, **kw).tolist(),
                       glide_velocities(mobility, 0.0, taus, chi_deg=30.0, **kw).tolist(),
                       fit_mobility(taus, edge), fit_mobility(taus, screw), dict(truth or {}))


def write_probe(result: ProbeResult, output_dir: str | os.PathLike, burgers_m: float | None = None) -> dict[str, Path]:
    """probe.json and probe.png (edge / screw velocity vs stress with the fits and the truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scale, unit = (burgers_m, "m/s") if burgers_m else (1.0, "b/s")
    taus = np.array(result.taus_pa) / 1e6
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, name in ((axes[0], "edge", "Me"), (axes[1], "screw", "Ms")):
        v = np.array(getattr(result, f"{key}_velocity")) * scale
        ax.plot(taus, v, "o", label=f"{key}: fit {name} = {getattr(result, name):.4g} /(Pa s)")
        if name in result.truth:
            ax.plot(taus, result.truth[name] * np.array(result.taus_pa) * scale, "k--",
                    label=f"truth {name} = {result.truth[name]:.4g}")
        if key == "screw":
            ax.plot(taus, np.array(result.screw_twinning_velocity) * scale, "v", label="screw, MRSSP chi = -30 (twinning)")
            ax.plot(taus, np.array(result.screw_antitwinning_velocity) * scale, "^",
                    label="screw, MRSSP chi = +30 (anti-twinning)")
        ax.set_xlabel("resolved shear stress on the MRSSP (MPa)")
        ax.set_ylabel(f"glide velocity ({unit})")
        ax.set_title(f"{key} dislocation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png, js = out / "probe.png", out / "probe.json"
    from ddml_engine.io._atomic import save_figure_atomic, write_text_atomic

    save_figure_atomic(fig, png, dpi=120)
    data = asdict(result) | {"errors_percent": result.errors_percent()}
    write_text_atomic(js, json.dumps(data, indent=2))
    return {"png": png, "json": js}


# --------------------------------------------------------------------------------------------- validation probe
PROBE_CASES: dict[str, tuple[float, float]] = {  # name: (character deg, chi deg)
    "edge": (90.0, 0.0), "60deg": (60.0, 0.0), "30deg": (30.0, 0.0), "screw": (0.0, 0.0),
    "screw_twinning": (0.0, -30.0), "screw_antitwinning": (0.0, 30.0)}


@dataclass
class CharacterProbe:
    """Glide and out-of-plane velocities (b/s) of each probe case vs tau, with pointwise errors against a
    reference mobility when one is given (relative, glide velocity)."""

    taus_pa: list[float]
    glide: dict[str, list[float]]
    normal: dict[str, list[float]]
    reference_glide: dict[str, list[float]] = field(default_factory=dict)

    def pointwise_errors(self) -> dict[str, list[float]]:
        """(v_glide / v_glide,reference - 1) per case and tau; empty without a reference."""
        return {k: (np.asarray(self.glide[k]) / np.asarray(v) - 1.0).tolist() for k, v in self.reference_glide.items()}

    def max_abs_error(self) -> dict[str, float]:
        return {k: float(np.max(np.abs(v))) for k, v in self.pointwise_errors().items()}

    def climb_ratio(self) -> dict[str, float]:
        """max over tau of |V . n| / |V . (n x t)| for the non-screw cases (the climb fraction of the motion)."""
        out = {}
        for k, (character, _) in PROBE_CASES.items():
            if character != 0.0:
                g, c = np.abs(self.glide[k]), np.abs(self.normal[k])
                out[k] = float(np.max(c / np.maximum(g, 1e-300)))
        return out

    def unphysical(self) -> dict[str, list[str]]:
        """What no mobility law should do, per case (empty lists when none): moving against the resolved force
        (glide velocity <= 0 at a positive stress), and a glide speed that does not increase with the stress."""
        flags = {}
        for name, v in self.glide.items():
            v = np.asarray(v, float)
            found = []
            if np.any(v <= 0):
                found.append(f"moves against the force at {int(np.sum(v <= 0))} of {len(v)} stresses")
            if len(v) > 1 and np.any(np.diff(v) <= 0):
                found.append("speed does not increase with stress")
            flags[name] = found
        return flags

    def fitted(self) -> dict[str, float]:
        """M of v = M tau b per case (1/(Pa s)); for the MRSSP screws the fit is against tau cos(chi), the
        shear resolved on the glide plane, so that a symmetric law gives the same M."""
        taus = np.asarray(self.taus_pa)
        return {k: fit_mobility(taus * np.cos(np.radians(PROBE_CASES[k][1])), self.glide[k]) for k in self.glide}


def probe_characters(mobility: Mobility, taus: np.ndarray = DEFAULT_TAUS, reference: Mobility | None = None,
                     length: float = 40.0, n_nodes: int = 8) -> CharacterProbe:
    """Velocities of every PROBE_CASES line vs tau for `mobility` (and `reference`, e.g. the true law)."""
    taus = np.asarray(taus, float)
    glide, normal, ref = {}, {}, {}
    for name, (character, chi) in PROBE_CASES.items():
        g, n = line_velocities(mobility, character, taus, chi, length, n_nodes)
        glide[name], normal[name] = g.tolist(), n.tolist()
        if reference is not None:
            ref[name] = line_velocities(reference, character, taus, chi, length, n_nodes)[0].tolist()
    return CharacterProbe(taus.tolist(), glide, normal, ref)


def plot_character_probe(result: CharacterProbe, png: str | os.PathLike, burgers_m: float | None = None,
                         title: str = "") -> Path:
    """Three panels: glide velocity vs tau per case (points) with the reference (lines), pointwise error (%),
    and the climb fraction |V.n| / |V_glide| of the non-screw cases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, unit = (burgers_m, "m/s") if burgers_m else (1.0, "b/s")
    taus = np.asarray(result.taus_pa) / 1e6
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = dict(zip(PROBE_CASES, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for name in PROBE_CASES:
        v = np.abs(np.asarray(result.glide[name])) * scale
        axes[0].semilogy(taus, np.maximum(v, 1e-30), "o", color=colours[name], ms=4, label=f"{name} (model)")
        if name in result.reference_glide:
            axes[0].semilogy(taus, np.abs(np.asarray(result.reference_glide[name])) * scale, "-",
                             color=colours[name], lw=1)
    axes[0].set_xlabel("shear stress tau on the MRSSP (MPa)")
    axes[0].set_ylabel(f"|glide velocity| ({unit}); lines: reference law")
    axes[0].legend(fontsize=7)
    errors = result.pointwise_errors()
    for name, e in errors.items():
        axes[1].plot(taus, 100.0 * np.asarray(e), "o-", color=colours[name], ms=3, label=name)
    axes[1].axhspan(-10, 10, color="0.9", zorder=0, label="+-10 %")
    axes[1].set_xlabel("shear stress tau (MPa)")
    axes[1].set_ylabel("glide velocity error vs reference (%)")
    if errors:
        axes[1].legend(fontsize=7)
    for name in PROBE_CASES:
        if PROBE_CASES[name][0] != 0.0:
            g = np.abs(np.asarray(result.glide[name]))
            c = np.abs(np.asarray(result.normal[name]))
            axes[2].semilogy(taus, np.maximum(c / np.maximum(g, 1e-300), 1e-8), "o-", color=colours[name], ms=3,
                             label=name)
    axes[2].axhline(0.01, color="k", ls="--", lw=1, label="1 %")
    axes[2].set_xlabel("shear stress tau (MPa)")
    axes[2].set_ylabel("|climb velocity| / |glide velocity|")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png = Path(png)
    from ddml_engine.io._atomic import save_figure_atomic

    save_figure_atomic(fig, png, dpi=110)
    return png
