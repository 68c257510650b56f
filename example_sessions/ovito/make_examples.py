"""Regenerate the example data and OVITO session files of this folder (run from anywhere):

    python example_sessions/ovito/make_examples.py

data/frame.{0,1,2}.dump.gz  a 14^3-cell BCC W crystal (Volterra loops, ddml_engine.md.synthetic): a [001] junction
                            in the middle and a prismatic 1/2[111] loop across the periodic corner that glides 2b
                            along [111] per frame (frames 1 ps apart: 'Time' is written into each dump)
data/tiny_untrained.pt      a small untrained GNN mobility model file (shows the plumbing; its velocities mean
                            nothing — train one with `ddml train` and point the modifiers at it)
ddml_forces.ovito           DXA -> DDD forces (1 GPa xz shear) + Nye tensor grid (translucent)
ddml_gnn_check.ovito        DXA -> GNN velocities (predicted network at t + dt) + next-frame Nye check
Both hide the atoms (they would hide the lines) and carry colour legends with units and a frame / time label in
every viewport (ovito_modifiers.annotations).
The sessions refer to the data by paths relative to this folder and open with ddml installed (the modifiers are
the package's `OVITO.Modifier` entry points).
"""
from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
W_A0 = 3.165  # Å


def write_dump(crystal, path: Path, step: int, time_ps: float) -> None:
    """LAMMPS text dump (gzip), written atomically."""
    lo, hi = crystal.origin, crystal.origin + np.diag(crystal.cell)
    out = ["ITEM: TIMESTEP", str(step), "ITEM: TIME", repr(float(time_ps)), "ITEM: NUMBER OF ATOMS",
           str(crystal.num_atoms), "ITEM: BOX BOUNDS pp pp pp"]
    out += [f"{float(lo[k]):.6f} {float(hi[k]):.6f}" for k in range(3)]
    out += ["ITEM: ATOMS id type x y z"]
    out += [f"{i + 1} 1 {x:.5f} {y:.5f} {z:.5f}" for i, (x, y, z) in enumerate(crystal.positions.tolist())]
    tmp = path.with_name(f".{path.name}.tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as handle:
        handle.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def make_data(folder: Path, frames: int = 3) -> None:
    import torch

    from ddml_engine.md import synthetic
    from ddml_engine.ml.export import export_model
    from ddml_engine.ml.model import GNNMobilityModel

    folder.mkdir(parents=True, exist_ok=True)
    crystal = synthetic.bcc_crystal(W_A0, 14)
    junction = list(synthetic.junction_loops_100(crystal, 5.0, 3.0))
    loop = synthetic.prismatic_loop_111(crystal, 2.5)
    b = W_A0 * np.sqrt(3) / 2
    for k in range(frames):
        moved = synthetic.PolygonLoop(loop.vertices + 0.5 * crystal.lengths + 2 * k * b * np.ones(3) / np.sqrt(3),
                                      loop.burgers)
        atoms = synthetic.insert_loops(crystal, [synthetic.make_vacancy_type(moved), *junction])
        write_dump(atoms, folder / f"frame.{k}.dump.gz", 1000 * k, float(k))
    torch.manual_seed(0)
    export_model(GNNMobilityModel(latent=8, layers=1), folder / "tiny_untrained.pt",
                 {"material": "W", "note": "untrained example model (ddml example_sessions/ovito)"})


def make_sessions(folder: Path) -> None:
    import ovito
    from ovito.io import import_file
    from ovito.modifiers import DislocationAnalysisModifier

    from ovito_modifiers import DDDForcesModifier, GNNVelocitiesModifier, NextFrameCheckModifier, NyeGridModifier
    from ovito_modifiers.annotations import annotate_viewport

    cwd = os.getcwd()
    os.chdir(folder)  # relative data paths in the sessions
    try:
        for name, modifiers in (
                ("ddml_forces.ovito", [DDDForcesModifier(stress_xz=1.0, force_model="elastic"),
                                       NyeGridModifier(resolution=24)]),
                ("ddml_gnn_check.ovito", [GNNVelocitiesModifier(model_path="tiny_untrained.pt",
                                                                show_predicted=True, dt_ps=1.0),
                                          NextFrameCheckModifier(model_path="tiny_untrained.pt",
                                                                 resolution=24)])):
            ovito.scene.pipelines.clear()
            pipeline = import_file("data/frame.*.dump.gz")
            dxa = DislocationAnalysisModifier(input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC)
            dxa.defect_vis.enabled = False
            pipeline.modifiers.append(dxa)
            for m in modifiers:
                pipeline.modifiers.append(m)
            pipeline.add_to_scene()
            data = pipeline.compute(0)
            data.particles.vis.enabled = False  # atoms would hide the lines from every camera
            for viewport in ovito.scene.viewports.viewports:  # saved with the session
                viewport.overlays.clear()
                annotate_viewport(viewport, data)
                viewport.zoom_all()
            ovito.scene.save(name)
            print(f"wrote {folder / name}")
    finally:
        os.chdir(cwd)
        ovito.scene.pipelines.clear()


if __name__ == "__main__":
    make_data(HERE / "data")
    make_sessions(HERE)
    sys.exit(0)
