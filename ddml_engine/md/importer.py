"""Bring your own MD: atom files or OVITO .ca files plus the stress per frame -> DXA -> a training store.

Inputs (`import_md`, `ddml md import`):
  - frames: one multi-frame LAMMPS dump, or several atom files (one frame each, any format OVITO reads), or a
    series of OVITO `.ca` files (DXA already done; the step is the last integer of each file name);
  - stress: a LAMMPS log (`read_thermo_log`: the thermo blocks, columns named by option, e.g. Pxx ... Pxy, which
    LAMMPS prints as pressures in bar in metal units: stress = -p), or a CSV (`read_stress_csv`: a `step` column and
    xx yy zz yz xz xy in a named unit, tension positive);
  - time of a frame: its step x the MD time step (`timestep_ps`).
Per frame: DXA (BCC) for atom files, then the checks and remesh of ddml_engine.md.extract (invalid frames skipped
with their reason), the frame's stress from the log at the frame's step (a frame whose step is not logged is
skipped, with that reason), optional F^DDD, and the network, its cell (deforming boxes are kept frame by frame),
time and stress go to a SnapshotStore with a per-frame report next to it.
"""
from __future__ import annotations

import csv
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ddml_engine.materials import ANGSTROM, BAR, GPA, Material

VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")
STRESS_UNITS = {"Pa": 1.0, "bar": BAR, "MPa": 1e6, "GPa": GPA}
LAMMPS_PRESSURE_COLUMNS = ("Pxx", "Pyy", "Pzz", "Pyz", "Pxz", "Pxy")


@dataclass
class StressTable:
    """Stress per MD step: steps (K,) and stress (K, 6) Voigt xx yy zz yz xz xy in Pa, tension positive."""

    steps: np.ndarray
    stress: np.ndarray
    source: str

    def at(self, step: int) -> np.ndarray:
        hit = np.flatnonzero(self.steps == step)
        if not len(hit):
            raise KeyError(f"step {step} is not in {self.source} (logged steps {self.steps[:3].tolist()} ... "
                           f"{self.steps[-1:].tolist()})")
        return self.stress[hit[-1]]  # the last block wins (a run restarted from a step logs it twice)


def _step_number(value: float, where: str) -> int:
    """A time step: a finite whole number in [0, 2^62] (ValueError naming `where`)."""
    if not (math.isfinite(value) and 0 <= value <= 2**62 and float(value).is_integer()):
        raise ValueError(f"{where}: the step {value!r} is not a whole number in [0, 2^62]")
    return int(value)


def read_thermo_log(path: str | os.PathLike, columns: Sequence[str] = LAMMPS_PRESSURE_COLUMNS,
                    step_column: str = "Step", unit: str = "bar", pressure: bool = True) -> StressTable:
    """Stress per step from the thermo blocks of a LAMMPS log.

    `columns` name the six xx yy zz yz xz xy columns (as in the thermo header, e.g. Pxx ... or c_s[1] ...);
    `pressure`: they hold pressures (LAMMPS' sign: stress = -p); `unit` of their values (metal units: bar)."""
    path = Path(path)
    if len(columns) != 6:
        raise ValueError(f"need six stress columns (xx yy zz yz xz xy), got {len(columns)}: {list(columns)}")
    if unit not in STRESS_UNITS:
        raise ValueError(f"unknown stress unit '{unit}'; choose one of {', '.join(STRESS_UNITS)}")
    wanted = [step_column, *columns]
    steps, rows, headers = [], [], []
    index = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            tokens = line.split()
            if not tokens:
                index = None
                continue
            if step_column in tokens:
                headers.append((number, tokens))
                index = [tokens.index(c) for c in wanted] if all(c in tokens for c in wanted) else None
                width = len(tokens)
                continue
            if index is None:
                continue
            if len(tokens) != width:
                index = None  # the block ended ("Loop time of ...", warnings)
                continue
            try:
                values = [float(tokens[i]) for i in index]
            except ValueError:
                index = None
                continue
            steps.append(_step_number(values[0], f"{path}:{number}"))
            rows.append(values[1:])
    if not rows:
        found = "; ".join(f"line {n}: {' '.join(t)}" for n, t in headers[:3]) or "no thermo header"
        raise ValueError(f"{path}: no thermo block with the columns {', '.join(wanted)} ({found}); name the "
                         "columns with --columns")
    stress = np.asarray(rows, float) * STRESS_UNITS[unit] * (-1.0 if pressure else 1.0)
    if not np.all(np.isfinite(stress)):
        raise ValueError(f"{path}: non-finite stress values in the thermo output")
    return StressTable(np.asarray(steps, np.int64), stress, str(path))


def read_stress_csv(path: str | os.PathLike, unit: str = "GPa") -> StressTable:
    """Stress per step from a CSV with columns step, xx, yy, zz, yz, xz, xy (tension positive, in `unit`)."""
    path = Path(path)
    if unit not in STRESS_UNITS:
        raise ValueError(f"unknown stress unit '{unit}'; choose one of {', '.join(STRESS_UNITS)}")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        names = [n.strip() for n in (reader.fieldnames or [])]
        missing = [c for c in ("step", *VOIGT) if c not in names]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)} (need step, xx, yy, zz, yz, xz, xy)")
        steps, rows = [], []
        for number, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k is not None}
            try:
                step = float(row["step"])
                rows.append([float(row[c]) for c in VOIGT])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{number}: bad number in {row}") from None
            steps.append(_step_number(step, f"{path}:{number}"))
    stress = np.asarray(rows, float).reshape(-1, 6) * STRESS_UNITS[unit]
    if not np.all(np.isfinite(stress)):
        raise ValueError(f"{path}: non-finite stress values")
    return StressTable(np.asarray(steps, np.int64), stress, str(path))


@dataclass
class FrameSource:
    """One frame to import: a .ca file, or frame `frame` of an atom file."""

    path: Path
    frame: int
    kind: str  # "ca" or "atoms"


def _last_integer(name: str) -> int:
    numbers = re.findall(r"\d+", name)
    if not numbers:
        raise ValueError(f"{name}: no step number in the file name")
    return int(numbers[-1])


def frame_sources(inputs: Sequence[str | os.PathLike]) -> list[FrameSource]:
    """Frames of the inputs: each .ca file is one frame (sorted by the step in its name); an atom file holds as
    many frames as OVITO finds in it (a multi-frame dump), files in the given order."""
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing[:3])}")
    cas = [p for p in paths if p.suffix.lower() == ".ca"]
    if cas and len(cas) != len(paths):
        raise ValueError("give either .ca files or atom files, not both")
    if cas:
        return [FrameSource(p, 0, "ca") for p in sorted(cas, key=lambda p: _last_integer(p.name))]
    from ovito.io import import_file

    sources = []
    for p in paths:
        pipeline = import_file(str(p))
        sources += [FrameSource(p, k, "atoms") for k in range(pipeline.num_frames)]
    return sources


def import_md(inputs: Sequence[str | os.PathLike], store_path: str | os.PathLike, material: Material,
              stress: StressTable, timestep_ps: float, every: int = 1, maxseg: float | None = None,
              minseg: float | None = None, force_model: str | None = None, burgers: str = "crystal",
              dangling: str = "keep", progress: bool = False):
    """Import MD frames into a SnapshotStore (module docstring); returns the ExtractionReport (also written as
    <store>.report.json). An existing store is not replaced."""
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.io.ca import read_ca
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.md.extract import MAXSEG, MINSEG, ExtractionReport, FrameReport, clean_dxa_network

    if not timestep_ps > 0:
        raise ValueError(f"the MD time step must be positive, got {timestep_ps} ps")
    store_path = Path(store_path)
    if store_path.exists():
        raise FileExistsError(f"{store_path} exists; choose another output (it is never replaced)")
    sources = frame_sources(inputs)[::max(1, int(every))]
    if not sources:
        raise ValueError("no frames in the inputs")
    maxseg, minseg = maxseg or MAXSEG, minseg or MINSEG
    b_angstrom = material.burgers_m / ANGSTROM
    model = make_force_model(force_model, material) if force_model else None
    report = ExtractionReport(str(store_path))
    metadata = {"source": "md-import", "inputs": [str(Path(p).resolve()) for p in inputs],
                "stress_source": stress.source, "timestep_ps": timestep_ps, "maxseg": maxseg, "minseg": minseg,
                "burgers_mode": burgers, "stress_convention": "Voigt xx yy zz yz xz xy, Pa, tension positive"}
    pipelines: dict[Path, object] = {}
    iterator = sources
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sources, desc="DXA", unit="frame")
    with tempfile.TemporaryDirectory() as tmp, SnapshotStore(store_path, "w", material=material,
                                                             metadata=metadata) as store:
        for src in iterator:
            start = time.perf_counter()
            rep = FrameReport(file=f"{src.path}" + (f"@{src.frame}" if src.kind == "atoms" else ""), step=-1,
                              status="skipped")
            try:
                if src.kind == "ca":
                    rep.step = _last_integer(src.path.name)
                    raw = read_ca(src.path, burgers_magnitude_angstrom=b_angstrom, burgers=burgers)
                else:
                    raw, rep.step = _dxa_frame(pipelines, src, Path(tmp), b_angstrom, burgers)
            except Exception as exc:  # DXA / reader failures: the frame is skipped with the reason
                rep.reason = f"DXA/conversion failed: {exc}"
                rep.seconds = time.perf_counter() - start
                report.frames.append(rep)
                continue
            net = clean_dxa_network(raw, rep, material, maxseg, minseg, dangling)
            if net is not None:
                try:
                    sigma = stress.at(rep.step)
                except KeyError as exc:
                    net, rep.status, rep.reason = None, "skipped", str(exc)
            if net is not None:
                rep.time_s = rep.step * timestep_ps * 1e-12
                extra = {"step": rep.step, "dangling_ends": rep.dangling_ends, "dxa_nodes": rep.dxa_nodes,
                         "dxa_segments": rep.dxa_segments, "source_file": src.path.name}
                if model is not None:
                    extra["forces"] = model(net, sigma)
                rep.index = store.append(net, rep.time_s, sigma, **extra)
            rep.seconds = time.perf_counter() - start
            report.frames.append(rep)
    report.write_json(str(store_path) + ".report.json")
    return report


def _dxa_frame(pipelines: dict, src: FrameSource, tmp: Path, b_angstrom: float, burgers: str):
    """(DXA network in b, MD step) of frame src.frame of an atom file."""
    from ovito.io import export_file, import_file
    from ovito.modifiers import DislocationAnalysisModifier

    from ddml_engine.io.ca import read_ca

    pipeline = pipelines.get(src.path)
    if pipeline is None:
        pipeline = import_file(str(src.path))
        pipeline.modifiers.append(DislocationAnalysisModifier(
            input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC))
        pipelines[src.path] = pipeline
    data = pipeline.compute(src.frame)
    if data.dislocations is None:
        raise RuntimeError("DXA produced no dislocation output")
    step = data.attributes.get("Timestep")
    if step is None:
        raise ValueError("the frame carries no time step (LAMMPS dumps have ITEM: TIMESTEP)")
    ca = tmp / f"frame_{src.frame}.ca"
    export_file(pipeline, str(ca), "ca", frame=src.frame)
    return read_ca(ca, burgers_magnitude_angstrom=b_angstrom, burgers=burgers), int(step)
