"""Simulation configuration (TOML) with defaults, and the builder that turns it into a Simulation.

Defaults reproduce the paper's section 2.2 data generator: a 300 b periodic W box with 12 random 1/2<111>
prismatic loops (radius 0.21 L, as in the ExaDiS bcc Ta example), [001] compression at 2e8/s, linear BCC
mobility Me = 2600, Ms = 20 /(Pa s), snapshots every 0.25 ps.
"""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    # name "" = the material the start file records (initial.type = "file"), W for generated networks;
    # mu, nu, core_radius, core_energy: overrides of the preset, 0 = the preset's
    "material": {"name": "", "mu": 0.0, "nu": 0.0, "core_radius": 0.0, "core_energy": 0.0},
    "cell": {"size": 300.0},  # cube side (b)
    "initial": {"type": "prismatic_loops", "count": 12, "radius": 63.0, "lines": 0, "seed": 1, "file": ""},
    "forces": {"model": "fft", "cutoff": 150.0, "grid": 64},
    "mobility": {"law": "bcc", "Me": 2600.0, "Ms": 20.0, "Mclimb": 1e-4, "vmax": 3400.0, "model": ""},
    "integrator": {"type": "trapezoid", "maxdt": 1e-10, "initial_dt": 5e-13, "rtol": 0.3, "substeps": 10},
    "topology": {"maxseg": 15.0, "minseg": 3.0, "rann": 0.6, "split_multinodes": True, "min_loop_length": 6.0},
    "loading": {"type": "strain_rate", "rate": -2e8, "direction": [0.0, 0.0, 1.0], "stress_MPa": [0.0] * 6},
    "run": {"max_strain": 0.1, "max_steps": 0, "max_time": 0.0, "output_interval": 0.25e-12,
            "output_dir": "runs/simulation", "progress": True, "threads": 0},
}

HELP = """\
Configuration file (TOML). Every key is optional; defaults in brackets.
  [material]    name [""]: a preset (W, W-FS, Ta, Cu); "" = the one the start file records (a ddml trajectory;
                ParaDiS/.ca files record none: then name it), W for generated loops; overrides of the preset,
                0 = the preset's: mu [0] Pa, nu [0], core_radius [0] b (preset 1), core_energy [0] Pa
  [cell]        size [300.0]: periodic cube side in b
  [initial]     type ["prismatic_loops"] or "file"; count [12]; radius [63.0] b (or [min, max]);
                lines [0]: infinite straight 1/2<111> lines of random character (screw, 35, 55, 71 deg, edge)
                added to the loops (dynamics.configs.random_periodic_lines); seed [1];
                file: a ParaDiS .data / OVITO .ca network (type = "file"; its cell replaces [cell])
  [forces]      model ["fft"]: "line-tension" (applied + core), "elastic" (all segment pairs), "elastic-cutoff"
                (pairs within cutoff [150.0] b), "fft" (FFT long range on a grid^3 mesh [64] + exact short range)
  [mobility]    law ["bcc"]: "bcc" (linear BCC drag law; Me [2600], Ms [20], Mclimb [1e-4] in 1/(Pa s);
                vmax [3400] m/s speed cap as in the ExaDiS BCC example, 0 = none),
                "gnn" (model = path of a trained ddml model file)
  [integrator]  type ["trapezoid"] or "euler"; maxdt [1e-10] s (largest sub-step); initial_dt [5e-13] s;
                rtol [0.3] b; substeps [10]: sub-steps per DDD step between topology operations (ExaDiS multi)
  [topology]    maxseg [15] b; minseg [3] b; rann [0.6] b (collision distance); split_multinodes [true];
                min_loop_length [6] b (smaller closed loops are removed)
  [loading]     type ["strain_rate"]: rate [-2e8] 1/s (negative = compression), direction [[0,0,1]];
                or "stress": stress_MPa [0,0,0,0,0,0] (xx,yy,zz,yz,xz,xy)
  [run]         max_strain [0.1]; max_steps [0 = no limit]; max_time [0 = no limit] s;
                output_interval [0.25e-12] s between snapshots; output_dir ["runs/simulation"]; progress [true];
                threads [0 = $DDML_THREADS, else the available cores] for numba and torch
"""


def merge(base: dict, override: dict, where: str = "") -> dict:
    """Recursive merge; unknown keys are errors that name the key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise KeyError(f"unknown configuration key '{where}{key}'; known: {', '.join(base)}")
        out[key] = merge(base[key], value, f"{where}{key}.") if isinstance(base[key], dict) else value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """Defaults merged with a TOML file and with 'section.key=value' overrides (values parsed as TOML)."""
    config = copy.deepcopy(DEFAULTS)
    if path:
        try:
            with open(path, "rb") as handle:
                config = merge(config, tomllib.load(handle))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: {error}") from None
        except KeyError as error:
            raise ValueError(f"{path}: {error.args[0]}") from None
    for item in overrides or []:
        key, _, value = item.partition("=")
        section, _, name = key.strip().partition(".")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        config = merge(config, {section: {name: parsed}})
    return config


def config_material(config: dict, restart: str | None = None):
    """(Material, where it came from) of a configuration: material.name, else the material the start file
    (or the `restart` trajectory) records, else W for generated networks; material.* overrides applied."""
    from ddml_engine.io import recorded_material
    from ddml_engine.materials import PRESETS, material

    m = config["material"]
    overrides = {}
    for key in ("mu", "nu", "core_radius", "core_energy"):
        value = m.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"material.{key} must be a finite number >= 0 (0 = the preset's), got {value!r}")
        overrides[key] = float(value) or None
    if overrides["nu"] is not None and not overrides["nu"] < 0.5:
        raise ValueError(f"material.nu must be below 0.5, got {overrides['nu']}")
    name = str(m.get("name") or "")
    if name:
        try:
            return material(name, **overrides), f"material.name = {name!r}"
        except KeyError as error:
            raise ValueError(f"material.name: {error.args[0]}") from None
    source = restart or (config["initial"].get("file") if config["initial"]["type"] == "file" else None)
    if source:
        recorded = recorded_material(source)
        if recorded is None:
            raise ValueError(f"{source} records no material: set material.name ({', '.join(PRESETS)}), e.g. "
                             f"--set material.name='\"W\"', or start from a ddml trajectory (.h5), which records its own")
        return recorded.with_overrides(**overrides), f"recorded in {source}"
    return material("W", **overrides), "the default for generated networks (set material.name to change it)"


def build_network(config: dict):
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.network import Cell, DislocationNetwork

    init = config["initial"]
    if init["type"] == "file":
        from ddml_engine.io import read_network

        return read_network(init["file"])
    if init["type"] == "prismatic_loops":
        cell = Cell.cubic(float(config["cell"]["size"]))
        radius = init["radius"] if np.isscalar(init["radius"]) else tuple(init["radius"])
        maxseg = float(config["topology"]["maxseg"])
        network = random_prismatic_loops(cell, int(init["count"]), radius, maxseg, seed=int(init["seed"]))
        if int(init["lines"]) > 0:
            from ddml_engine.dynamics.configs import random_periodic_lines

            lines = random_periodic_lines(cell, int(init["lines"]), maxseg, seed=int(init["seed"]) + 7919)
            network = DislocationNetwork.concatenate([network, lines]) if int(init["count"]) > 0 else lines
        return network
    raise ValueError(f"initial.type must be 'prismatic_loops' or 'file', got '{init['type']}'")


def build_mobility(config: dict, material):
    mob = config["mobility"]
    if mob["law"] == "bcc":
        from ddml_engine.mobility.bcc import BCCLinearMobility

        vmax = float(mob["vmax"]) or None
        return BCCLinearMobility(Me=float(mob["Me"]), Ms=float(mob["Ms"]), Mclimb=float(mob["Mclimb"]), vmax=vmax,
                                 burgers_m=material.burgers_m if vmax else None)
    if mob["law"] == "gnn":
        from ddml_engine.mobility.gnn import GNNMobility

        return GNNMobility(mob["model"])
    raise ValueError(f"mobility.law must be 'bcc' or 'gnn', got '{mob['law']}'")


def build_simulation(config: dict, store=None, network=None, restart: str | None = None):
    """Simulation object from a configuration dict (network from `initial` unless given)."""
    from ddml_engine.dynamics.integrators import EulerIntegrator, MultiStepIntegrator, TrapezoidIntegrator
    from ddml_engine.dynamics.loading import StressControl, UniaxialStrainRate
    from ddml_engine.dynamics.simulation import Simulation, TopologySettings
    from ddml_engine.forces.model import make_force_model

    mat, _ = config_material(config, restart)
    network = network if network is not None else build_network(config)
    f = config["forces"]
    forces = make_force_model(f["model"], mat, cutoff=f.get("cutoff"), grid=int(f.get("grid", 64)))
    integ = config["integrator"]
    if integ["type"] == "trapezoid":
        integrator = TrapezoidIntegrator(maxdt=float(integ["maxdt"]), rtol=float(integ["rtol"]),
                                         dt=float(integ["initial_dt"]))
    elif integ["type"] == "euler":
        integrator = EulerIntegrator(maxdt=float(integ["initial_dt"]))
    else:
        raise ValueError(f"integrator.type must be 'trapezoid' or 'euler', got '{integ['type']}'")
    if int(integ["substeps"]) > 1:
        integrator = MultiStepIntegrator(integrator, substeps=int(integ["substeps"]))
    load = config["loading"]
    if load["type"] == "strain_rate":
        loading = UniaxialStrainRate(rate=float(load["rate"]), youngs_modulus=mat.youngs_modulus,
                                     direction=np.asarray(load["direction"], float))
    elif load["type"] == "stress":
        loading = StressControl(np.asarray(load["stress_MPa"], float) * 1e6)
    else:
        raise ValueError(f"loading.type must be 'strain_rate' or 'stress', got '{load['type']}'")
    topo = TopologySettings(**config["topology"])
    interval = float(config["run"]["output_interval"]) or None
    return Simulation(network, forces, build_mobility(config, mat), integrator, loading, topo, store=store,
                      output_interval=interval if store is not None else None), mat
