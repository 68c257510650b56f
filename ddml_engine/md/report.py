"""Reports of an MD run: stress-strain (axial stress vs true strain) and dislocation density vs strain, as CSV
and PNG, plus a tension/compression comparison figure.

Stress: Voigt components of the run's stress log (window means, GPa, tension positive); axial = sigma_zz.
Density: line length of each stored DXA network (after remeshing; the remesh keeps the line geometry) per cell
volume, in 1/m^2. Flow stress: mean axial stress over the last `flow_window` fraction of the strain range.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from ddml_engine.io._atomic import atomic_path, write_text_atomic

GPA = 1e9


def _csv_text(header: list[str], rows: np.ndarray) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.8g}" for v in row])
    return buf.getvalue()


def stress_strain(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Arrays of the deformation stage: time_ps, strain (signed true strain), stress_GPa (n, 6), temperature."""
    from ddml_engine.md.lammps import read_stress_log

    log = read_stress_log(Path(run_dir) / "stress.dat")
    return {"time_ps": log.time * 1e12, "strain": log.strain, "stress_GPa": log.stress / GPA,
            "temperature": log.temperature}


def density_series(store_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Per stored frame: time_ps, strain, density_m2, length_b, nodes, segments, junction_100_b, dangling."""
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.network import JUNCTION_100

    cols: dict[str, list] = {k: [] for k in ("time_ps", "strain", "density_m2", "length_b", "nodes", "segments",
                                             "junction_100_b", "dangling")}
    with SnapshotStore(store_path) as store:
        b = store.burgers_m
        for k in range(len(store)):
            frame = store.read(k)
            net = frame.network
            cols["time_ps"].append(frame.time * 1e12)
            cols["strain"].append(float(frame.extra.get("strain", np.nan)))
            cols["density_m2"].append(net.density(b))
            cols["length_b"].append(net.total_length())
            cols["nodes"].append(net.num_nodes)
            cols["segments"].append(net.num_segments)
            lengths = net.segment_lengths()
            cols["junction_100_b"].append(float(lengths[net.segment_classes() == JUNCTION_100].sum()))
            cols["dangling"].append(int(frame.extra.get("dangling_ends", 0)))
    return {k: np.asarray(v, float) for k, v in cols.items()}


def flow_stress(strain: np.ndarray, axial: np.ndarray, flow_window: float = 0.25) -> float:
    """Mean axial stress over the last `flow_window` fraction of the |strain| range."""
    e = np.abs(strain)
    top = e.max()
    sel = e >= (1.0 - flow_window) * top
    return float(np.mean(axial[sel]))


def write_reports(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, label: str | None = None,
                  store_path: str | os.PathLike | None = None, flow_window: float = 0.25) -> dict:
    """Write <label>_stress_strain.csv/.png and, when the store exists, <label>_density.csv/.png.

    Returns a summary: peak and flow axial stress (GPa, signed), final strain, initial/final density (1/m^2).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    label = label or run_dir.name
    ss = stress_strain(run_dir)
    axial = ss["stress_GPa"][:, 2]
    table = np.column_stack([ss["time_ps"], ss["strain"], ss["stress_GPa"], ss["temperature"]])
    write_text_atomic(out / f"{label}_stress_strain.csv", _csv_text(
        ["time_ps", "true_strain", "sigma_xx_GPa", "sigma_yy_GPa", "sigma_zz_GPa", "sigma_yz_GPa", "sigma_xz_GPa",
         "sigma_xy_GPa", "temperature_K"], table))
    peak = float(axial[np.argmax(np.abs(axial))])
    summary = {"label": label, "final_strain": float(ss["strain"][-1]), "peak_axial_stress_GPa": peak,
               "flow_axial_stress_GPa": flow_stress(ss["strain"], axial, flow_window),
               "strain_at_peak": float(ss["strain"][np.argmax(np.abs(axial))]),
               "mean_lateral_stress_GPa": float(np.mean(ss["stress_GPa"][:, :2]))}

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(ss["strain"], axial, lw=1.2, label=r"$\sigma_{zz}$ (axial)")
    ax.plot(ss["strain"], ss["stress_GPa"][:, :2].mean(axis=1), lw=0.8, alpha=0.7, label="lateral mean")
    ax.set_xlabel("true strain along [001]")
    ax.set_ylabel("stress (GPa, tension positive)")
    ax.set_title(f"W, [001] {label}")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out / f"{label}_stress_strain.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)

    store = Path(store_path) if store_path is not None else run_dir / "networks.h5"
    if store.exists():
        ds = density_series(store)
        write_text_atomic(out / f"{label}_density.csv", _csv_text(list(ds), np.column_stack(list(ds.values()))))
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.plot(np.abs(ds["strain"]), ds["density_m2"], "o-", ms=3)
        ax.set_xlabel("|true strain|")
        ax.set_ylabel(r"dislocation density (m$^{-2}$)")
        ax.set_title(f"W, [001] {label}: DXA line density")
        fig.tight_layout()
        with atomic_path(out / f"{label}_density.png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)
        summary |= {"frames": len(ds["time_ps"]), "initial_density_m2": float(ds["density_m2"][0]) if len(ds["time_ps"]) else 0.0,
                    "final_density_m2": float(ds["density_m2"][-1]) if len(ds["time_ps"]) else 0.0,
                    "max_density_m2": float(ds["density_m2"].max()) if len(ds["time_ps"]) else 0.0}
    return summary


def plot_comparison(reports_dir: str | os.PathLike, labels: tuple[str, ...] = ("tension", "compression"),
                    name: str = "tension_compression") -> Path:
    """|axial stress| and density vs |true strain| of several runs on one figure, from their CSV reports."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = Path(reports_dir)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for label in labels:
        ss = np.genfromtxt(d / f"{label}_stress_strain.csv", delimiter=",", names=True)
        a1.plot(np.abs(ss["true_strain"]), np.abs(ss["sigma_zz_GPa"]), lw=1.2, label=label)
        dpath = d / f"{label}_density.csv"
        if dpath.exists():
            ds = np.genfromtxt(dpath, delimiter=",", names=True)
            a2.plot(np.abs(ds["strain"]), ds["density_m2"], "o-", ms=3, label=label)
    a1.set_xlabel("|true strain|")
    a1.set_ylabel("|axial stress| (GPa)")
    a2.set_xlabel("|true strain|")
    a2.set_ylabel(r"dislocation density (m$^{-2}$)")
    for a in (a1, a2):
        a.legend()
    fig.suptitle("BCC W, [001] loading, 300 K")
    fig.tight_layout()
    path = d / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path
