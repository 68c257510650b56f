"""MD ground-truth experiment: BCC W with 1/2<111> prismatic loops under [001] tension and compression.

For each mode: LAMMPS run (ddml_engine.md.lammps.run_md) -> DXA of every dump into a snapshot store with
F^DDD (ddml_engine.md.extract.extract_trajectory) -> stress-strain and density reports (PNG + CSV,
ddml_engine.md.report.write_reports). Also measures the potential's elastic constants at 300 K.

    .venv/bin/python benchmarks/md_experiment.py --out runs/md --cells 28 --loops 6 --radius 14 \
        --rate 2e9 --strain 0.10 --nprocs 1 [--stage run|extract|report|elastic|all] [--modes tension compression]

Prints a JSON summary per run (atoms, MD speed in atom-steps/s, wall times, frames stored/skipped, flow stress).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ddml_engine.md.lammps import MDConfig, MDRun, measure_elastic_constants, parse_loop_times, run_md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/md")
    ap.add_argument("--cells", type=int, default=28)
    ap.add_argument("--loops", type=int, default=6)
    ap.add_argument("--radius", type=float, default=14.0, help="loop radius (Å, centre to vertex)")
    ap.add_argument("--rate", type=float, default=2e9, help="true strain rate (1/s)")
    ap.add_argument("--strain", type=float, default=0.10)
    ap.add_argument("--equilibration", type=float, default=5.0, help="ps")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--nprocs", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["tension", "compression"])
    ap.add_argument("--stage", default="all", choices=["run", "extract", "report", "elastic", "all"])
    ap.add_argument("--grid", type=int, default=32, help="FFT grid of the F^DDD force model")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    material = None
    elastic_json = out / "elastic_300K.json"
    if args.stage in ("elastic", "all") or (args.stage in ("extract", "report") and not elastic_json.exists()):
        t0 = time.perf_counter()
        ec = measure_elastic_constants(300.0, directory=out / "elastic")
        info = ec.to_dict() | {"seconds": time.perf_counter() - t0}
        elastic_json.write_text(json.dumps(info, indent=1) + "\n")
        print(json.dumps(info, indent=1), flush=True)
    if elastic_json.exists():
        from ddml_engine.md.lammps import ElasticConstants

        e = json.loads(elastic_json.read_text())
        material = ElasticConstants(e["temperature"], e["lattice_constant"], e["C11"], e["C12"],
                                    e["C44"]).material("W-FS-MD")  # b, Hill mu and nu, and the cubic constants

    for mode in args.modes:
        run_dir = out / mode
        summary: dict = {"mode": mode}
        if args.stage in ("run", "all"):
            cfg = MDConfig(cells=args.cells, num_loops=args.loops, loop_radius=args.radius, seed=args.seed,
                           mode=mode, strain_rate=args.rate, max_strain=args.strain,
                           equilibration=args.equilibration)
            run: MDRun = run_md(cfg, run_dir, nprocs=args.nprocs)
            summary |= {"atoms": run.num_atoms, "nprocs": run.nprocs, "md_wall_s": run.wall_s,
                        "deformation_steps": run.deformation_steps, "deformation_loop_s": run.deformation_loop_s,
                        "atom_steps_per_s": run.atom_steps_per_s, "dumps": len(run.dumps())}
            print(json.dumps(summary), flush=True)
        if args.stage in ("extract", "all"):
            from ddml_engine.md.extract import extract_trajectory

            t0 = time.perf_counter()
            rep = extract_trajectory(run_dir, material=material or "W", grid=args.grid)
            summary |= {"extract_wall_s": time.perf_counter() - t0, "frames_stored": len(rep.stored),
                        "frames_skipped": len(rep.skipped)}
            print(rep.summary(), flush=True)
        if args.stage in ("report", "all", "extract"):
            from ddml_engine.md.report import write_reports

            summary |= write_reports(run_dir, out / "reports", label=mode)
        loops = parse_loop_times(run_dir / "log.lammps") if (run_dir / "log.lammps").exists() else []
        if loops:
            sec, procs, steps, atoms = loops[-1]
            summary |= {"atoms": atoms, "nprocs": procs, "deformation_loop_s": sec,
                        "atom_steps_per_s": atoms * steps / sec}
        (out / f"summary_{mode}.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
        print(json.dumps(summary, default=float), flush=True)


if __name__ == "__main__":
    main()
