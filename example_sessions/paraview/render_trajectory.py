"""Render a ddml trajectory with ParaView: the network as tubes coloured by |force|, the Nye-tensor norm as a
volume rendering plus an iso-surface, the periodic cell as an outline; one PNG per frame.

Usage (pvbatch/pvpython need an X display; Xvfb is enough):
    xvfb-run -a pvbatch example_sessions/paraview/render_trajectory.py TRAJ.h5 OUTDIR
        [--resolution 24] [--sigma 0] [--frames K] [--size 800 600] [--save-state STATE.pvsm]
Prints one JSON line: {"frames": [...png paths], "times": [...], "arrays": {...}}.
TRAJ.h5 is a ddml HDF5 snapshot store (e.g. from make_loop_trajectory.py or `ddml simulate`).
"""
import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from paraview_plugins import env  # noqa: E402

ENV = env.prepare()  # before paraview.simple: the venv's numpy must be the first one imported
if not ENV.ok:
    sys.exit("ddml: " + "; ".join(ENV.problems))

from paraview import simple as pv  # noqa: E402

PLUGINS = os.path.join(REPO, "paraview_plugins", "plugins")


def load_plugins() -> None:
    """Load the ddml reader and filter plugins (once per process)."""
    for name in ("ddml_readers.py", "ddml_nye.py"):
        if not hasattr(pv, "ddmlTrajectoryReader" if name == "ddml_readers.py" else "ddmlNyeTensorField"):
            pv.LoadPlugin(os.path.join(PLUGINS, name), ns=vars(pv))


def colour_array(reader) -> tuple[str, str]:
    """(association, name) to colour the tubes: nodal forces when stored, else the Burgers-vector magnitude."""
    point_arrays = reader.PointData.keys()
    for name in ("forces", "force"):
        if name in point_arrays:
            return "POINTS", name
    return "CELLS", "burgers_magnitude"


def build_scene(trajectory: str, resolution: int = 24, sigma: float = 0.0, size=(800, 600)):
    """Pipeline and view for `trajectory`; returns (view, reader, proxies dict)."""
    load_plugins()
    reader = pv.ddmlTrajectoryReader(registrationName="trajectory", FileName=trajectory)
    reader.UpdatePipelineInformation()
    nye = pv.ddmlNyeTensorField(registrationName="nye", Input=reader, Resolution=resolution, Sigma=sigma)
    nye.LineDensity = 0
    contour = pv.Contour(registrationName="nye_contour", Input=nye)
    contour.ContourBy = ["POINTS", "nye_norm"]
    outline = pv.Outline(registrationName="cell_outline", Input=nye)
    nye.UpdatePipeline(reader.TimestepValues[0] if reader.TimestepValues else 0.0)
    bounds = nye.GetDataInformation().GetBounds()  # the periodic cell
    extent = max(bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4])
    tubes = pv.Tube(registrationName="tubes", Input=reader, Radius=0.008 * extent, NumberofSides=12)

    view = pv.CreateView("RenderView")
    view.ViewSize = list(size)
    view.Background = [1.0, 1.0, 1.0]
    view.OrientationAxesVisibility = 1
    try:  # ParaView >= 5.10 uses palettes/UseColorPaletteForBackground
        view.UseColorPaletteForBackground = 0
    except AttributeError:
        pass

    association, name = colour_array(reader)
    tube_display = pv.Show(tubes, view)
    pv.ColorBy(tube_display, (association, name, "Magnitude"))
    force_lut = pv.GetColorTransferFunction(name)
    force_lut.ApplyPreset("Inferno (matplotlib)", True)
    tube_display.SetScalarBarVisibility(view, True)
    bar = pv.GetScalarBar(force_lut, view)
    bar.Title = "force magnitude (Pa b^2)" if association == "POINTS" else "Burgers magnitude (b)"
    bar.ComponentTitle = ""
    bar.TitleColor = bar.LabelColor = [0.0, 0.0, 0.0]

    norm_range = nye.PointData["nye_norm"].GetRange()
    contour.Isosurfaces = [0.5 * norm_range[1]]
    volume = pv.Show(nye, view)
    volume.SetRepresentationType("Volume")
    pv.ColorBy(volume, ("POINTS", "nye_norm"))
    nye_lut = pv.GetColorTransferFunction("nye_norm")
    nye_lut.ApplyPreset("Cool to Warm", True)
    nye_lut.RescaleTransferFunction(0.0, norm_range[1])
    volume.SetScalarBarVisibility(view, True)
    nye_bar = pv.GetScalarBar(nye_lut, view)
    nye_bar.Title = "Nye tensor norm (1/b)"
    nye_bar.ComponentTitle = ""
    nye_bar.TitleColor = nye_bar.LabelColor = [0.0, 0.0, 0.0]
    nye_bar.WindowLocation = "Upper Right Corner"
    nye_pwf = pv.GetOpacityTransferFunction("nye_norm")
    nye_pwf.Points = [0.0, 0.0, 0.5, 0.0, 0.15 * norm_range[1], 0.0, 0.5, 0.0, norm_range[1], 0.35, 0.5, 0.0]
    surf = pv.Show(contour, view)
    surf.ColorArrayName = [None, ""]
    surf.DiffuseColor = [0.2, 0.45, 0.9]
    surf.Opacity = 0.35
    cell = pv.Show(outline, view)
    cell.DiffuseColor = [0.0, 0.0, 0.0]
    cell.AmbientColor = [0.0, 0.0, 0.0]

    pv.Render(view)  # the first render resets the camera; set ours after it
    centre = [0.5 * (bounds[0] + bounds[1]), 0.5 * (bounds[2] + bounds[3]), 0.5 * (bounds[4] + bounds[5])]
    camera = view.GetActiveCamera()
    camera.SetFocalPoint(*centre)
    camera.SetPosition(*(c + 2.5 * extent * d for c, d in zip(centre, (0.75, -0.55, 0.37))))
    camera.SetViewUp(0.0, 0.0, 1.0)
    view.ResetCamera()
    return view, reader, {"nye": nye, "contour": contour, "tubes": tubes, "outline": outline}


def render_frames(view, reader, outdir: str, frames: int | None = None, size=(800, 600)) -> tuple[list, list]:
    """Screenshot every time step (or the first `frames`) into outdir/frame_0000.png, ...; (paths, times)."""
    os.makedirs(outdir, exist_ok=True)
    times = list(reader.TimestepValues) or [0.0]
    if frames:
        times = times[:frames]
    scene = pv.GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    paths = []
    for k, t in enumerate(times):
        view.ViewTime = t
        pv.Render(view)
        path = os.path.join(outdir, f"frame_{k:04d}.png")
        pv.SaveScreenshot(path, view, ImageResolution=list(size))
        paths.append(path)
    return paths, times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectory")
    parser.add_argument("outdir")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--sigma", type=float, default=5.0)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--size", type=int, nargs=2, default=(800, 600))
    parser.add_argument("--save-state", default=None, help="also write the scene as a ParaView state (.pvsm)")
    args = parser.parse_args(argv)
    view, reader, proxies = build_scene(os.path.abspath(args.trajectory), args.resolution, args.sigma, args.size)
    paths, times = render_frames(view, reader, args.outdir, args.frames, args.size)
    if args.save_state:
        pv.SaveState(args.save_state)
    arrays = {"points": reader.PointData.keys(), "cells": reader.CellData.keys(),
              "nye": proxies["nye"].PointData.keys()}
    print(json.dumps({"frames": paths, "times": times, "arrays": arrays}))


if __name__ == "__main__":
    main()
