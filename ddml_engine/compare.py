"""`ddml compare`: MD, DDD+ML and DDD with the linear law side by side, tension and compression (paper Figs. 3-5).

Curves come from files the other commands write:
  - MD: `ddml md report` tables, given by their prefix P: P_stress_strain.csv (true_strain, sigma_zz_GPa) and,
    when present, P_density.csv (strain, density_m2);
  - DDD (+ML or linear law): a `ddml simulate` folder, its table.csv (strain, stress_zz_Pa, density_per_m2 or
    density_per_b2 with the material of its config.json).
Each curve is labelled by its source ('MD', 'DDD+ML', 'DDD linear') and loading ('T' or 'C'). Reported per curve:
flow stress = mean axial stress over the last quarter of its |strain| range (GPa, signed; as `ddml md report`),
final |strain| and density (1/m^2); per source, the tension / compression ratio of |flow stress|; and, for the
DDD curves, relative differences to MD. Outputs: compare.png (stress-strain and density-strain), compare.csv and
summary.json in the output folder.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ddml_engine.io._atomic import save_figure_atomic, write_text_atomic
from ddml_engine.md.report import flow_stress

SOURCES = ("MD", "DDD+ML", "DDD linear")
LOADINGS = {"T": "tension", "C": "compression"}


@dataclass
class Curve:
    source: str
    loading: str  # "T" or "C"
    path: str
    strain: np.ndarray  # signed axial strain
    stress_gpa: np.ndarray  # axial stress, GPa, tension positive
    density_strain: np.ndarray | None = None
    density_m2: np.ndarray | None = None


@dataclass
class CurveSummary:
    source: str
    loading: str
    flow_stress_gpa: float
    final_strain: float
    final_density_m2: float | None


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no rows")
    try:
        return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    except (TypeError, ValueError):
        raise ValueError(f"{path}: a non-numeric value") from None


def _column(table: dict, path: Path, *names: str) -> np.ndarray:
    for name in names:
        if name in table:
            return table[name]
    raise ValueError(f"{path}: no column {' or '.join(names)}")


def md_curve(prefix: str | os.PathLike, loading: str) -> Curve:
    """An MD curve from `ddml md report` tables PREFIX_stress_strain.csv [and PREFIX_density.csv]."""
    prefix = Path(prefix)
    ss_path = Path(f"{prefix}_stress_strain.csv")
    if not ss_path.is_file():
        raise FileNotFoundError(f"{ss_path}: no MD stress-strain table (ddml md report writes it)")
    ss = _read_csv(ss_path)
    curve = Curve("MD", loading, str(prefix), _column(ss, ss_path, "true_strain", "strain"),
                  _column(ss, ss_path, "sigma_zz_GPa"))
    density_path = Path(f"{prefix}_density.csv")
    if density_path.is_file():
        d = _read_csv(density_path)
        curve.density_strain, curve.density_m2 = _column(d, density_path, "strain"), _column(d, density_path,
                                                                                               "density_m2")
    return curve


def ddd_curve(folder: str | os.PathLike, loading: str, source: str) -> Curve:
    """A DDD curve from a `ddml simulate` folder's table.csv."""
    folder = Path(folder)
    path = folder / "table.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no table.csv (ddml simulate writes it)")
    t = _read_csv(path)
    if "density_per_m2" in t:
        density = t["density_per_m2"]
    else:
        from ddml_engine.dynamics.config import config_material

        config = json.loads((folder / "config.json").read_text())
        density = _column(t, path, "density_per_b2") / config_material(config)[0].burgers_m ** 2
    strain = _column(t, path, "strain")
    return Curve(source, loading, str(folder), strain, _column(t, path, "stress_zz_Pa") / 1e9, strain, density)


def summarise(curve: Curve, flow_window: float = 0.25) -> CurveSummary:
    final_density = float(curve.density_m2[-1]) if curve.density_m2 is not None and len(curve.density_m2) else None
    return CurveSummary(curve.source, curve.loading, flow_stress(curve.strain, curve.stress_gpa, flow_window),
                        float(np.abs(curve.strain).max()), final_density)


def compare(curves: list[Curve], output_dir: str | os.PathLike) -> dict:
    """Summaries, T/C ratios and differences to MD of `curves`; writes compare.png/.csv and summary.json."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = [summarise(c) for c in curves]
    by = {(s.source, s.loading): s for s in summaries}
    ratios = {source: abs(by[(source, "T")].flow_stress_gpa) / abs(by[(source, "C")].flow_stress_gpa)
              for source in SOURCES if (source, "T") in by and (source, "C") in by
              and by[(source, "C")].flow_stress_gpa != 0}
    differences = {}
    for s in summaries:
        md = by.get(("MD", s.loading))
        if s.source == "MD" or md is None:
            continue
        key = f"{s.source} {s.loading}"
        differences[key] = {"flow_stress": (abs(s.flow_stress_gpa) - abs(md.flow_stress_gpa)) / abs(md.flow_stress_gpa)}
        if s.final_density_m2 and md.final_density_m2:
            differences[key]["final_density"] = (s.final_density_m2 - md.final_density_m2) / md.final_density_m2
    for source, ratio in ratios.items():
        if source != "MD" and "MD" in ratios:
            differences.setdefault(f"{source} T/C", {})["ratio"] = (ratio - ratios["MD"]) / ratios["MD"]
    summary = {"curves": [asdict(s) for s in summaries], "tension_compression_ratio": ratios,
               "relative_difference_to_md": differences, "flow_window": "last quarter of the |strain| range"}
    lines = ["source,loading,flow_stress_GPa,final_strain,final_density_m2"]
    lines += [f"{s.source},{LOADINGS[s.loading]},{s.flow_stress_gpa:.6g},{s.final_strain:.6g},"
              f"{'' if s.final_density_m2 is None else f'{s.final_density_m2:.6g}'}" for s in summaries]
    write_text_atomic(out / "compare.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    plot(curves, out / "compare.png")
    return summary


def plot(curves: list[Curve], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"MD": "black", "DDD+ML": "tab:red", "DDD linear": "tab:blue"}
    styles = {"T": "-", "C": "--"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for c in curves:
        label = f"{c.source}, {LOADINGS[c.loading]}"
        ax1.plot(np.abs(c.strain) * 100, np.abs(c.stress_gpa), styles[c.loading], color=colours[c.source], lw=1.3,
                 label=label)
        if c.density_m2 is not None:
            ax2.plot(np.abs(c.density_strain) * 100, c.density_m2, styles[c.loading], color=colours[c.source],
                     lw=1.3, label=label)
    ax1.set_xlabel("|axial strain| (%)")
    ax1.set_ylabel("|axial stress| (GPa)")
    ax2.set_xlabel("|axial strain| (%)")
    ax2.set_ylabel("dislocation density (1/m²)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("[001] tension (solid) and compression (dashed): MD, DDD+ML and DDD with the linear law")
    fig.tight_layout()
    save_figure_atomic(fig, png, dpi=110)


def parse_spec(text: str, option: str) -> tuple[str, str]:
    """'T=path' or 'C=path' -> (loading, path)."""
    loading, sep, path = text.partition("=")
    if not sep or loading not in LOADINGS or not path:
        raise ValueError(f"{option} {text!r}: write T=PATH (tension) or C=PATH (compression)")
    return loading, path
