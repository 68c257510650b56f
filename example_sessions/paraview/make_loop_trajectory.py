"""Write a small ddml trajectory for the ParaView examples: a glide loop in BCC W expanding under shear stress.

Run with the venv's Python:  .venv/bin/python example_sessions/paraview/make_loop_trajectory.py [out.h5]
Frames store nodal `forces` (applied Peach-Koehler + core line tension, Pa*b^2) and glide `velocities` (b/s),
which the ParaView trajectory reader exposes as point arrays. Explicit Euler steps with the glide mobility
(Me = 2600, Ms = 20 1/(Pa s), the §2.2 BCC values); the loop sits off-centre so it crosses the periodic boundary.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from ddml_engine.forces.local import applied_forces, core_forces, shear_stress
from ddml_engine.geometry import circular_loop
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material
from ddml_engine.mobility.glide import GlideMobility
from ddml_engine.network import Cell


def loop_trajectory(path: str, frames: int = 12, box: float = 100.0, radius: float = 25.0,
                    tau: float = 1.0e9, max_step_b: float = 2.5) -> None:
    mat = material("W")
    b = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
    normal = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
    cell = Cell.cubic(box)
    net = circular_loop(np.array([0.3, 0.5, 0.5]) * box, radius, normal, b, 24, cell=cell)
    stress = shear_stress(tau, b, normal)
    mobility = GlideMobility(M=2600.0, Mscrew=20.0)
    time = 0.0
    tmp = path + ".tmp"
    with SnapshotStore(tmp, "w", material=mat, metadata={"example": "expanding glide loop", "tau_Pa": tau}) as store:
        for _ in range(frames):
            forces = applied_forces(net, stress) + core_forces(net, mat.Ec, mat.nu)
            velocities = mobility.velocities(net, forces)
            store.append(net, time, stress, forces=forces, velocities=velocities)
            dt = max_step_b / max(np.abs(velocities).max(), 1e-30)
            net = net.with_positions(net.positions + dt * velocities).wrapped()
            time += dt
    os.replace(tmp, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=os.path.join(os.path.dirname(__file__), "loop_trajectory.h5"))
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    loop_trajectory(args.output, args.frames)
    with SnapshotStore(args.output) as s:
        print(f"wrote {args.output}: {len(s)} frames, t = {s.times[0]:.3g} .. {s.times[-1]:.3g} s")
