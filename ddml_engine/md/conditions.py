"""DDD under an MD run's conditions: a `ddml simulate` configuration read off an MD snapshot store.

What is taken from the store (`ddml md extract` or `ddml md import`): the cell, the loading axis and signed true
strain rate (fitted to the frames' strain against time), the final strain, the output interval (the frame
spacing), the remesh lengths the networks were stored with (the training discretisation), and the material. The
run loads like the MD box: uniaxial stress along z with the lateral and shear stresses free on a deforming cell
(`loading.cell = "deforming"`), the crystal's cubic elastic constants for the elastic response.

Two starts: `frame` (the MD network of a frame, by default the first) or `loops` (the MD set-up's statistics:
the box, the number and radius of the seeded prismatic loops, with another seed; stores of `ddml md extract`).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import numpy as np

from ddml_engine.dynamics.config import DEFAULTS
from ddml_engine.materials import ANGSTROM, PRESETS


@dataclass(frozen=True)
class MDConditions:
    """What a DDD run needs to know about an MD run (lengths in b, rate in 1/s, times in s)."""

    cell_lengths: np.ndarray
    strain_rate: float  # signed true strain rate along z (negative = compression)
    final_strain: float  # signed
    frame_interval: float
    frames: int
    maxseg: float
    minseg: float
    loops: int | None  # seeded prismatic loops of the MD set-up (None when unknown, e.g. imported data)
    loop_radius: float | None  # b
    md_seed: int | None
    material_name: str | None
    burgers_m: float | None
    mu: float | None
    nu: float | None
    cubic_constants: tuple[float, float, float] | None


def read_conditions(store_path: str | os.PathLike) -> MDConditions:
    """The MD conditions recorded in a snapshot store (ValueError naming the file when it holds too little)."""
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.md.extract import MAXSEG, MINSEG

    with SnapshotStore(store_path, "r") as store:
        if len(store) < 2:
            raise ValueError(f"{store_path}: {len(store)} frame(s); the MD conditions need at least two")
        meta = store.metadata
        mat = store.material
        times = np.asarray(store.times, float)
        strains = np.array([float(store.read(k).extra.get("strain", np.nan)) for k in range(len(store))])
        first = store.read(0).network
    if not np.all(np.isfinite(strains)):
        raise ValueError(f"{store_path}: frames without a recorded strain; not an MD store of ddml md extract/import")
    span = times - times[0]
    rate = float(np.polyfit(span, strains, 1)[0]) if np.ptp(span) > 0 else 0.0
    if not abs(rate) > 0:
        raise ValueError(f"{store_path}: the strain does not change between frames; no strain rate to follow")
    md = meta.get("md_config") or {}
    burgers_m = mat.burgers_m if mat is not None else PRESETS["W-FS"].burgers_m
    radius = md.get("loop_radius")
    return MDConditions(
        cell_lengths=first.cell.lengths, strain_rate=rate, final_strain=float(strains[-1]),
        frame_interval=float(np.median(np.diff(times))), frames=len(times), maxseg=float(meta.get("maxseg", MAXSEG)),
        minseg=float(meta.get("minseg", MINSEG)), loops=md.get("num_loops"),
        loop_radius=None if radius is None else float(radius) * ANGSTROM / burgers_m, md_seed=md.get("seed"),
        material_name=None if mat is None else mat.name, burgers_m=None if mat is None else mat.burgers_m, mu=None if mat is None else mat.mu,
        nu=None if mat is None else mat.nu, cubic_constants=None if mat is None else mat.cubic_constants)


def preset_for(c: MDConditions, store_path: str | os.PathLike) -> str:
    """The material preset a configuration can name for the store's material: the same name, else the preset with
    the same Burgers vector (within 0.1 %; its mu, nu and cubic constants are then overridden by the store's),
    else a ValueError (a configuration cannot express another b)."""
    if c.material_name in PRESETS:
        return str(c.material_name)
    if c.burgers_m:
        for name in ("W-FS", *PRESETS):
            if abs(PRESETS[name].burgers_m / c.burgers_m - 1.0) < 1e-3:
                return name
    raise ValueError(f"{store_path}: its material ({c.material_name}, b = {c.burgers_m}) matches no preset "
                     f"({', '.join(PRESETS)}); DDD needs one with its Burgers vector")


def ddd_config_like_md(store_path: str | os.PathLike, start: str = "frame", frame: int = 0, seed: int = 1,
                       output_dir: str = "runs/ddd_like_md", grid: int = 32) -> dict:
    """A `ddml simulate` configuration (dict) under the MD conditions of `store_path`.

    start = 'frame': the network of `frame` of the store (the loading starts there at zero stress and strain, so the
    MD's unloaded first frame, 0, is the one to compare with); 'loops': the MD set-up's box, loop count and radius with
    `seed` (use a seed other than the MD's to test beyond the trajectory trained on). The mobility stays the default
    linear law: set mobility.law = "gnn" and mobility.model for DDD+ML.
    """
    c = read_conditions(store_path)
    config = copy.deepcopy(DEFAULTS)
    preset = preset_for(c, store_path)
    config["material"]["name"] = preset
    if c.mu and c.nu:
        config["material"]["mu"], config["material"]["nu"] = float(c.mu), float(c.nu)
    cubic = c.cubic_constants or PRESETS[preset].cubic_constants
    if cubic:
        config["material"]["cubic_constants_GPa"] = [float(x) / 1e9 for x in cubic]
    else:  # no crystal constants known: the isotropic response of mu and nu
        config["loading"]["elastic"] = "isotropic"
    if start == "frame":
        if not -c.frames <= int(frame) < c.frames:
            raise ValueError(f"{store_path}: frame {frame} out of range (the store holds {c.frames} frames)")
        config["initial"].update(type="file", file=os.fspath(store_path), frame=int(frame))
    elif start == "loops":
        if not c.loops or not c.loop_radius:
            raise ValueError(f"{store_path} records no MD loop set-up (an imported store?): use start = 'frame'")
        config["cell"]["size"] = float(np.mean(c.cell_lengths))
        config["initial"].update(type="prismatic_loops", count=int(c.loops), radius=float(c.loop_radius),
                                 seed=int(seed))
    else:
        raise ValueError(f"start must be 'frame' or 'loops', got {start!r}")
    config["forces"]["grid"] = int(grid)
    config["topology"]["maxseg"], config["topology"]["minseg"] = c.maxseg, c.minseg
    config["loading"].update(type="strain_rate", rate=c.strain_rate, direction=[0.0, 0.0, 1.0], cell="deforming",
                             elastic="cubic" if cubic else "isotropic")
    config["run"].update(max_strain=abs(c.final_strain), output_interval=c.frame_interval, output_dir=output_dir)
    return config
