"""Load the ddml ParaView state (ddml_trajectory.pvsm) on a trajectory and save its frames as PNG.

Usage: xvfb-run -a pvbatch example_sessions/paraview/render_state.py TRAJ.h5 OUTDIR [--state FILE.pvsm]
       [--frames K] [--size 800 600]
The state (written by render_trajectory.py --save-state) shows the network as tubes coloured by |force|, the
Nye-tensor norm as a volume and an iso-surface; its reader is named "trajectory" and is pointed at TRAJ.h5.
In the GUI: load the two plugins first, then File > Load State, "Search files under specified directory".
Prints one JSON line {"frames": [...], "times": [...]}.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render_trajectory as rt  # noqa: E402  (sets up ddml's environment before paraview.simple)

pv = rt.pv


def reader_id(state: str) -> str:
    """Proxy id of the ddmlTrajectoryReader in a state file (ParaView 5.11's LoadState needs the id)."""
    import re

    with open(state, encoding="utf-8", errors="replace") as handle:
        match = re.search(r'<Proxy group="sources" type="ddmlTrajectoryReader"[^>]*id="(\d+)"', handle.read())
    if match is None:
        sys.exit(f"{state}: no ddml Trajectory Reader in this state")
    return match.group(1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectory")
    parser.add_argument("outdir")
    parser.add_argument("--state", default=os.path.join(HERE, "ddml_trajectory.pvsm"))
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--size", type=int, nargs=2, default=(800, 600))
    args = parser.parse_args(argv)
    rt.load_plugins()
    pv.LoadState(args.state, filenames=[{"id": reader_id(args.state), "FileName": os.path.abspath(args.trajectory)}])
    reader = pv.FindSource("trajectory")
    reader.UpdatePipelineInformation()
    view = pv.GetActiveViewOrCreate("RenderView")
    paths, times = rt.render_frames(view, reader, args.outdir, args.frames, args.size)
    print(json.dumps({"frames": paths, "times": times}))


if __name__ == "__main__":
    main()
