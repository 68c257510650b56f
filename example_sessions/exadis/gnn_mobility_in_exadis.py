"""Run a ddml mobility (a trained GNN model file, or ddml's linear BCC law) inside LLNL ExaDiS.

Needs pyexadis (built from ExaDiS's sources; not on the package registries) importable, e.g.
    PYTHONPATH=/path/to/exadis/python python example_sessions/exadis/gnn_mobility_in_exadis.py model.pt
Without a start file, ddml writes 12 random prismatic loops in a 300 b W box as a ParaDiS file and ExaDiS reads
it. ExaDiS then runs its FFT forces, trapezoid integrator, collisions, serial topology (the only one that takes
a Python mobility) and remeshing, under [001] tension at --rate, with ddml computing every velocity through
`ddml_engine.mobility.exadis.ExaDiSMobility` (pyexadis's Python-mobility protocol). Output: ExaDiS's own files
in --output-dir.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a ddml model file (ddml train / export), or 'bcc' for the linear law")
    parser.add_argument("--start", help="ParaDiS .data start file (default: 12 random loops written by ddml)")
    parser.add_argument("--material", default="W", help="ddml material name (W)")
    parser.add_argument("--rate", type=float, default=2e8, help="[001] strain rate, 1/s (2e8)")
    parser.add_argument("--steps", type=int, default=200, help="ExaDiS steps (200)")
    parser.add_argument("--output-dir", default="exadis_gnn_output", help="ExaDiS output folder")
    return parser.parse_args(argv)


def ddml_mobility(model: str):
    from ddml_engine.mobility import BCCLinearMobility
    from ddml_engine.mobility.exadis import ExaDiSMobility
    from ddml_engine.mobility.gnn import GNNMobility

    law = BCCLinearMobility(Me=2600.0, Ms=20.0, Mclimb=1e-4) if model == "bcc" else GNNMobility(model)
    return ExaDiSMobility(law)


def start_file(args: argparse.Namespace, out: Path) -> str:
    if args.start:
        return args.start
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.network import Cell

    path = out / "start.data"
    write_paradis(random_prismatic_loops(Cell.cubic(300.0), 12, 63.0, 15.0, seed=1), path)
    return str(path)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import pyexadis
        from pyexadis_base import (CalForce, Collision, DisNetManager, ExaDisNet, Remesh, SimulateNetwork,
                                   TimeIntegration, Topology)
    except ImportError:
        print("gnn_mobility_in_exadis: pyexadis is not importable; build ExaDiS and put its python/ folder on "
              "PYTHONPATH", file=sys.stderr)
        return 2
    from ddml_engine.materials import material

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    mat = material(args.material)
    mobility = ddml_mobility(args.model)
    pyexadis.initialize()
    try:
        state = {"crystal": mat.crystal, "burgmag": mat.burgers_m, "mu": mat.mu, "nu": mat.nu, "a": 1.0,
                 "maxseg": 15.0, "minseg": 3.0, "rtol": 0.3, "rann": 0.6, "nextdt": 5e-13}
        net = DisNetManager(ExaDisNet().read_paradis(start_file(args, out)))
        calforce = CalForce(force_mode="DDD_FFT_MODEL", state=state, Ngrid=64, cell=net.cell)
        timeint = TimeIntegration(integrator="Trapezoid", state=state, force=calforce, mobility=mobility)
        collision = Collision(collision_mode="Retroactive", state=state)
        topology = Topology(topology_mode="TopologySerial", state=state, force=calforce, mobility=mobility)
        remesh = Remesh(remesh_rule="LengthBased", state=state)
        sim = SimulateNetwork(calforce=calforce, mobility=mobility, timeint=timeint, collision=collision,
                              topology=topology, remesh=remesh, state=state, loading_mode="strain_rate",
                              erate=args.rate, edir=np.array([0.0, 0.0, 1.0]), max_step=args.steps,
                              burgmag=mat.burgers_m, print_freq=10, write_freq=50, write_dir=str(out))
        sim.run(net, state)
    finally:
        pyexadis.finalize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
