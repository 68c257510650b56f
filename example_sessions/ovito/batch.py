"""Headless batch: DXA + ddml's OVITO modifiers over a trajectory; per-frame renders, network files and a table.

    python example_sessions/ovito/batch.py 'dumps/frame.*.dump.gz' --out results/ [--model model.pt]
        [--stress-gpa XX YY ZZ YZ XZ XY] [--force-model elastic] [--nye 24] [--size 640 480] [--no-render]

Per frame k it writes  results/frame_00k.png   the annotated network (DDD force arrows; GNN velocity arrows and
                                               the predicted network too with --model)
                       results/frame_00k.data  the remeshed engine network (ParaDiS format, units of b)
                       results/frame_00k.vtp   the same with nodal forces (and velocities) for ParaView
and results/attributes.csv with every frame's global attributes (DDD.*, GNN.*, Nye.*, NextFrame.*). Rendering
needs Vulkan (Debian libvulkan1 mesa-vulkan-drivers; `bash scripts/setup_ovito.sh`).
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trajectory", help="dump file(s); a wildcard pattern gives a trajectory ('frame.*.dump')")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default="", help="ddml GNN model file (adds velocities and the next-frame check)")
    p.add_argument("--material", default="W")
    p.add_argument("--force-model", default="elastic")
    p.add_argument("--stress-gpa", type=float, nargs=6, default=[0.0] * 6, metavar=("XX", "YY", "ZZ", "YZ", "XZ", "XY"),
                   help="applied stress (GPa) when the frames carry no stress attributes")
    p.add_argument("--remesh", type=float, default=10.0, help="remesh segment length (b), 0 = keep the DXA points")
    p.add_argument("--nye", type=int, default=24, help="Nye grid points per cell vector (0 = no Nye grid)")
    p.add_argument("--size", type=int, nargs=2, default=[640, 480])
    p.add_argument("--no-render", action="store_true")
    return p.parse_args(argv)


def build_pipeline(args):
    from ovito.io import import_file
    from ovito.modifiers import DislocationAnalysisModifier

    from ovito_modifiers import DDDForcesModifier, GNNVelocitiesModifier, NextFrameCheckModifier, NyeGridModifier

    stress = dict(zip(("stress_xx", "stress_yy", "stress_zz", "stress_yz", "stress_xz", "stress_xy"), args.stress_gpa))
    physics = dict(material=args.material, force_model=args.force_model, remesh=args.remesh > 0,
                   remesh_length=args.remesh or 10.0, **stress)
    pipeline = import_file(args.trajectory)
    dxa = DislocationAnalysisModifier(input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC)
    dxa.defect_vis.enabled = False
    dxa.disloc_vis.enabled = False  # the ddml network lines replace OVITO's own drawing
    pipeline.modifiers.append(dxa)
    if args.nye:
        pipeline.modifiers.append(NyeGridModifier(material=args.material, resolution=args.nye, show_grid=False))
    pipeline.modifiers.append(DDDForcesModifier(**physics))
    if args.model:
        pipeline.modifiers.append(GNNVelocitiesModifier(model_path=args.model, show_predicted=True, **physics))
        if args.nye:
            pipeline.modifiers.append(NextFrameCheckModifier(model_path=args.model, resolution=args.nye, show_grid=False,
                                                             **physics))
    return pipeline


def write_table(path: str, rows: list[dict]) -> None:
    keys = sorted({k for row in rows for k in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    from ovito.vis import OpenGLRenderer, Viewport

    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.io.vtk import write_vtp
    from ddml_engine.materials import material
    from ovito_modifiers._common import dxa_network
    from ovito_modifiers.annotations import annotate_viewport

    os.makedirs(args.out, exist_ok=True)
    pipeline = build_pipeline(args)
    pipeline.add_to_scene()
    mat = material(args.material)
    rows = []
    vp = Viewport(type=Viewport.Type.Perspective, camera_dir=(-1.0, -0.6, -0.5))
    for frame in range(pipeline.num_frames):
        data = pipeline.compute(frame)
        if frame == 0:
            data.particles.vis.enabled = False
            vp.zoom_all()
            annotate_viewport(vp, data)  # colour legends with units, frame / time / strain label
        stem = os.path.join(args.out, f"frame_{frame:03d}")
        net = dxa_network(data, mat, "batch", args.remesh)  # same deterministic conversion as the modifiers
        node_data = {"force": np.asarray(data.vectors["ddml-forces"]["Direction"]) if net.num_nodes
                     else np.zeros((0, 3))}  # Pa*b^2, as everywhere in ddml
        if args.model and net.num_nodes:
            node_data["velocity_m_s"] = np.asarray(data.vectors["ddml-velocities"]["Direction"])
        write_paradis(net, stem + ".data")
        write_vtp(net, stem + ".vtp", node_data=node_data)
        if not args.no_render:
            vp.render_image(size=tuple(args.size), filename=stem + ".png", frame=frame, background=(1.0, 1.0, 1.0),
                            renderer=OpenGLRenderer())
        row = {"frame": frame}
        row.update({k: v for k, v in data.attributes.items()
                    if isinstance(v, (int, float, str, np.number)) and not k.startswith("SourceFile")})
        rows.append(row)
        shown = {k: row[k] for k in ("DDD.max_force_Pa_b2", "GNN.max_speed_m_s", "NextFrame.relative") if k in row}
        print(f"frame {frame}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) and not math.isnan(v)
                                              else f"{k}={v}" for k, v in shown.items()), flush=True)
    write_table(os.path.join(args.out, "attributes.csv"), rows)
    print(f"wrote {len(rows)} frames to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
