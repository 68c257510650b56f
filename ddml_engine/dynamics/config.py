"""Simulation configuration (TOML) with defaults, and the builder that turns it into a Simulation.

Defaults reproduce the paper's section 2.2 data generator: a 300 b periodic W box with 12 random 1/2<111>
prismatic loops (radius 0.21 L, as in the ExaDiS bcc Ta example), [001] compression at 2e8/s, linear BCC
mobility Me = 2600, Ms = 20 /(Pa s), snapshots every 0.25 ps.
"""
from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    # name "" = the material the start file records (initial.type = "file"), W for generated networks;
    # mu, nu, core_radius, core_energy: overrides of the preset, 0 = the preset's
    "material": {"name": "", "mu": 0.0, "nu": 0.0, "core_radius": 0.0, "core_energy": 0.0,
                 "cubic_constants_GPa": []},
    "cell": {"size": 300.0},  # cube side (b)
    "initial": {"type": "prismatic_loops", "count": 12, "radius": 63.0, "lines": 0, "seed": 1, "file": "",
                "frame": -1},
    "forces": {"model": "fft", "cutoff": 150.0, "grid": 64},
    "mobility": {"law": "bcc", "Me": 2600.0, "Ms": 20.0, "Mclimb": 1e-4, "vmax": 3400.0, "model": ""},
    "integrator": {"type": "trapezoid", "maxdt": 1e-10, "initial_dt": 5e-13, "rtol": 0.3, "substeps": 10},
    "topology": {"maxseg": 15.0, "minseg": 3.0, "rann": 0.6, "split_multinodes": True, "min_loop_length": 6.0},
    "loading": {"type": "strain_rate", "rate": -2e8, "direction": [0.0, 0.0, 1.0], "stress_MPa": [0.0] * 6,
                "elastic": "isotropic", "cell": "fixed", "cell_tolerance": 1e-3},
    "run": {"max_strain": 0.1, "max_steps": 0, "max_time": 0.0, "output_interval": 0.25e-12,
            "output_dir": "runs/simulation", "progress": True, "threads": 0, "max_nodes": 200_000},
}

#: One line per key (unit first where there is one): the comments of `template()` and of `ddml simulate --help`.
KEY_DOCS: dict[str, str] = {
    "material.name": 'preset W, W-FS, Ta or Cu; "" = the one the start file records (a ddml trajectory; ParaDiS '
                     'and .ca files record none), W for generated networks',
    "material.mu": "Pa, shear modulus; 0 = the preset's",
    "material.nu": "Poisson ratio; 0 = the preset's",
    "material.core_radius": "b, non-singular core radius a; 0 = the preset's (1)",
    "material.core_energy": "Pa, core energy Ec; 0 = the preset's mu/(4 pi) ln(a/0.1)",
    "material.cubic_constants_GPa": "GPa, [C11, C12, C44] of the crystal (loading.elastic = \"cubic\"); [] = the "
                                    "preset's (W-FS has its MD potential's 300 K values)",
    "cell.size": "b, side of the periodic cube (ignored for a start file, whose cell is used)",
    "initial.type": '"prismatic_loops" (random 1/2<111> loops and lines) or "file"',
    "initial.count": "number of prismatic loops",
    "initial.radius": "b, loop radius, or [min, max]",
    "initial.lines": "infinite straight 1/2<111> lines of random character (screw, 35, 55, 71 deg, edge)",
    "initial.seed": "random seed of loops and lines",
    "initial.file": 'start network for type = "file": ParaDiS .data, OVITO .ca or a ddml trajectory .h5 (last frame)',
    "initial.frame": "frame of an .h5 start file (0 = first, -1 = last), e.g. an MD store's first frame",
    "forces.model": '"fft" (FFT long range on grid^3 + exact short range), "elastic" (all pairs), '
                    '"elastic-cutoff" (pairs within cutoff), "line-tension" (applied + core only)',
    "forces.cutoff": "b, pair cutoff of elastic-cutoff",
    "forces.grid": "FFT mesh points per side",
    "mobility.law": '"bcc" (linear BCC drag law) or "gnn" (a trained ddml model file)',
    "mobility.Me": "1/(Pa s), edge mobility",
    "mobility.Ms": "1/(Pa s), screw mobility",
    "mobility.Mclimb": "1/(Pa s), climb mobility",
    "mobility.vmax": "m/s, speed cap as in the ExaDiS BCC example; 0 = none",
    "mobility.model": 'model file of law = "gnn" (ddml train output, model.pt)',
    "integrator.type": '"trapezoid" (adaptive) or "euler"',
    "integrator.maxdt": "s, largest sub-step",
    "integrator.initial_dt": "s, first sub-step",
    "integrator.rtol": "b, position error tolerance of a trapezoid sub-step",
    "integrator.substeps": "sub-steps per DDD step between topology operations (ExaDiS multi)",
    "topology.maxseg": "b, longest segment (longer ones are refined)",
    "topology.minseg": "b, shortest segment (shorter ones are coarsened)",
    "topology.rann": "b, collision distance",
    "topology.split_multinodes": "split nodes of 4+ arms when it lowers the energy",
    "topology.min_loop_length": "b, smaller closed loops are removed",
    "loading.type": '"strain_rate" or "stress"',
    "loading.rate": "1/s, strain rate along direction (negative = compression)",
    "loading.direction": "loading axis (normalised)",
    "loading.stress_MPa": 'MPa, constant stress xx, yy, zz, yz, xz, xy of type = "stress"',
    "loading.elastic": '"isotropic" (E = 2 mu (1 + nu), as ExaDiS) or "cubic" (the crystal\'s C11, C12, C44: '
                       'E along the direction and, with a deforming cell, its lateral strains)',
    "loading.cell": '"fixed" (ExaDiS) or "deforming": the cell follows the total strain (elastic + plastic) '
                    'with zero lateral and shear stress, like an MD box under uniaxial stress; nodes carried affinely',
    "loading.cell_tolerance": "strain change that triggers a cell update of a deforming cell",
    "run.max_strain": "stop at this |strain|; 0 = no limit",
    "run.max_steps": "stop after this many steps; 0 = no limit",
    "run.max_time": "s, stop at this simulated time; 0 = no limit",
    "run.output_interval": "s of simulated time between snapshots in trajectory.h5",
    "run.output_dir": "folder of trajectory.h5, table.csv, stress_strain.png, config.json, summary.json",
    "run.progress": "progress bar on the terminal",
    "run.threads": "numba and torch threads; 0 = $DDML_THREADS, else the cores this process may use",
    "run.max_nodes": "stop (with the reason) when the network grows beyond this many nodes; 0 = no limit",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text and "inf" not in text and "nan" not in text and (abs(value) >= 1e6 or text.count("0") > 6):
            mantissa, exponent = ("%.16e" % value).split("e")
            mantissa = mantissa.rstrip("0")
            short = mantissa + ("0" if mantissa.endswith(".") else "") + "e" + exponent
            text = short if float(short) == value else text
        return text
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def template(config: dict | None = None) -> str:
    """A commented TOML file of `config` (default DEFAULTS) that `load_config` reads back unchanged."""
    config = DEFAULTS if config is None else config
    lines = ["# ddml simulate configuration (TOML). Every key is optional: delete what you keep at its default.",
             "# Units: lengths in b (Burgers-vector magnitude), stress in Pa unless named, time in s.", ""]
    for section, values in config.items():
        lines.append(f"[{section}]")
        width = max(len(f"{k} = {_toml_value(v)}") for k, v in values.items())
        for key, value in values.items():
            entry = f"{key} = {_toml_value(value)}"
            lines.append(f"{entry:<{width}}  # {KEY_DOCS.get(f'{section}.{key}', '')}".rstrip(" #"))
        lines.append("")
    return "\n".join(lines)


HELP = "Configuration file (TOML): every key is optional; the defaults (ddml simulate --print-config):\n\n" + \
    template()


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


def _number(config: dict, key: str, low: float | None = None, high: float | None = None, integer: bool = False,
            strict_low: bool = False) -> float:
    section, name = key.split(".")
    value = config[section][name]
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(f"{key} must be {kind}, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{key} must be finite, got {value!r}")
    if low is not None and (value <= low if strict_low else value < low):
        raise ValueError(f"{key} must be {'>' if strict_low else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{key} must be <= {high:g}, got {value!r}")
    return float(value)


def _choice(config: dict, key: str, choices: tuple[str, ...]) -> None:
    section, name = key.split(".")
    if config[section][name] not in choices:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, choices))}, got {config[section][name]!r}")


def validate_config(config: dict) -> None:
    """Type and range of every simulation setting, the key named in the error (ValueError); run before anything is
    built or written."""
    size = _number(config, "cell.size", 0.0, 1e7, strict_low=True)
    _choice(config, "initial.type", ("prismatic_loops", "file"))
    _number(config, "initial.count", 0, 100_000, integer=True)
    _number(config, "initial.lines", 0, 10_000, integer=True)
    _number(config, "initial.seed", 0, 2**63 - 1, integer=True)
    _number(config, "initial.frame", -10**9, 10**9, integer=True)
    radius = config["initial"]["radius"]
    radii = radius if isinstance(radius, list) else [radius]
    if not radii or len(radii) > 2 or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not np.isfinite(r)
                                          or not 0 < r < size for r in radii):
        raise ValueError(f"initial.radius must be a number or [min, max] in (0, cell.size = {size:g}) b, got "
                         f"{radius!r}")
    if config["initial"]["type"] == "file" and not config["initial"]["file"]:
        raise ValueError('initial.file: give the start network for initial.type = "file"')
    _choice(config, "forces.model", ("fft", "elastic", "elastic-cutoff", "line-tension"))
    _number(config, "forces.cutoff", 0.0, None, strict_low=True)
    _number(config, "forces.grid", 4, 1024, integer=True)
    _choice(config, "mobility.law", ("bcc", "gnn"))
    for key in ("mobility.Me", "mobility.Ms", "mobility.Mclimb", "mobility.vmax"):
        _number(config, key, 0.0)
    if config["mobility"]["law"] == "gnn" and not config["mobility"]["model"]:
        raise ValueError('mobility.model: give the model file for mobility.law = "gnn"')
    _choice(config, "integrator.type", ("trapezoid", "euler"))
    for key in ("integrator.maxdt", "integrator.initial_dt", "integrator.rtol"):
        _number(config, key, 0.0, None, strict_low=True)
    _number(config, "integrator.substeps", 1, 10_000, integer=True)
    maxseg = _number(config, "topology.maxseg", 0.0, None, strict_low=True)
    minseg = _number(config, "topology.minseg", 0.0)
    if minseg >= maxseg:
        raise ValueError(f"topology.minseg ({minseg:g}) must be below topology.maxseg ({maxseg:g})")
    _number(config, "topology.rann", 0.0)
    _number(config, "topology.min_loop_length", 0.0)
    _choice(config, "loading.type", ("strain_rate", "stress"))
    _number(config, "loading.rate", None, None)
    for key, count in (("loading.direction", 3), ("loading.stress_MPa", 6)):
        section, name = key.split(".")
        value = config[section][name]
        if not isinstance(value, list) or len(value) != count or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value):
            raise ValueError(f"{key} must be {count} finite numbers, got {value!r}")
    if not np.linalg.norm(config["loading"]["direction"]) > 0:
        raise ValueError("loading.direction must not be zero")
    _choice(config, "loading.elastic", ("isotropic", "cubic"))
    _choice(config, "loading.cell", ("fixed", "deforming"))
    _number(config, "loading.cell_tolerance", 0.0, 0.1)
    if config["loading"]["cell"] == "deforming" and config["loading"]["type"] != "strain_rate":
        raise ValueError('loading.cell = "deforming" needs loading.type = "strain_rate"')
    _number(config, "run.max_strain", 0.0)
    _number(config, "run.max_steps", 0, None, integer=True)
    _number(config, "run.max_time", 0.0)
    _number(config, "run.output_interval", 0.0)
    _number(config, "run.max_nodes", 0, None, integer=True)
    if not (config["run"]["max_strain"] or config["run"]["max_steps"] or config["run"]["max_time"]):
        raise ValueError("give a limit: run.max_strain, run.max_steps or run.max_time (all are 0)")


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
    cubic = m.get("cubic_constants_GPa", [])
    if not isinstance(cubic, list) or len(cubic) not in (0, 3) or not all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and np.isfinite(c) and c > 0 for c in cubic):
        raise ValueError(f"material.cubic_constants_GPa must be [] or three positive numbers [C11, C12, C44] (GPa), "
                         f"got {cubic!r}")
    if cubic:
        c11, c12, c44 = cubic
        if not (c11 > abs(c12) and c11 + 2 * c12 > 0):
            raise ValueError(f"material.cubic_constants_GPa = {cubic}: not a stable cubic crystal (need C11 > |C12|, "
                             f"C11 + 2 C12 > 0, C44 > 0)")
        overrides["cubic_constants"] = tuple(float(c) * 1e9 for c in cubic)
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

        return read_network(init["file"], frame=int(init.get("frame", -1)))
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
    from ddml_engine.dynamics.loading import DeformingCell, StressControl, UniaxialStrainRate
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
    deformation = None
    if load["type"] == "strain_rate":
        compliance = mat.compliance(load.get("elastic", "isotropic"))
        loading = UniaxialStrainRate.with_compliance(float(load["rate"]), compliance,
                                                     np.asarray(load["direction"], float))
        if load.get("cell", "fixed") == "deforming":
            deformation = DeformingCell(compliance, tolerance=float(load.get("cell_tolerance", 1e-3)))
    elif load["type"] == "stress":
        loading = StressControl(np.asarray(load["stress_MPa"], float) * 1e6)
    else:
        raise ValueError(f"loading.type must be 'strain_rate' or 'stress', got '{load['type']}'")
    # ExaDiS (Crystal::initialize): BCC crystals do not use glide planes, so remesh may coarsen across them
    topo = TopologySettings(**config["topology"], glide_planes=mat.crystal != "bcc")
    interval = float(config["run"]["output_interval"]) or None
    return Simulation(network, forces, build_mobility(config, mat), integrator, loading, topo, store=store,
                      output_interval=interval if store is not None else None, cell_deformation=deformation), mat
