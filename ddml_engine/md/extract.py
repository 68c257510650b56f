"""MD dumps -> DXA -> engine networks -> HDF5 snapshot store, with F^DDD on every frame.

Per dump file (one frame each, `dumps/dump.<step>.lammpstrj[.gz]` of a run from ddml_engine.md.lammps):
  1. DXA (OVITO's DislocationAnalysisModifier, BCC input lattice), exported to a .ca file;
  2. `ddml_engine.io.ca.read_ca`: wrapped nodes (the ends of one junction ring merged into one node across the
     periodic boundary by minimum image), junction connectivity, Burgers vectors = OVITO's spatial Burgers
     vectors snapped to the exact lattice vectors of the cube-aligned crystal ('crystal' mode; 'spatial' keeps
     the elastically strained ones), Å -> b with the material's b;
  3. checks: DXA failure, network validation and Frank's rule -> the frame is skipped and the reason recorded;
     dangling line ends (DXA lines that end at a defect-mesh hole; pinned by read_ca) and Burgers vectors that
     are neither 1/2<111> nor <100> are counted and recorded with the frame (kept, or skipped with
     `dangling="skip"`);
  4. remesh to the DDD discretisation (segments between `minseg` and `maxseg`, 8-9 b on average here;
     ddml_engine.dynamics.topology.remesh), re-validated;
  5. F^DDD with the frame's MD stress (Voigt, Pa, tension positive) from the run's stress log;
  6. stored: network, time (s, since the start of loading), MD stress, and extras step, strain, forces (N, 3)
     in Pa*b^2, DXA counts.
Nothing is kept silently: every frame gets a FrameReport (status 'ok' or 'skipped' with a reason), written as
JSON next to the store.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ddml_engine.materials import ANGSTROM, Material, material as material_preset
from ddml_engine.network import GLISSILE_111, JUNCTION_100, OTHER_BURGERS, PINNED_NODE, DislocationNetwork, \
    NetworkError

#: The training discretisation, close to the paper's (about 10 b segments): refine above MAXSEG, coarsen below
#: MINSEG; the same maxseg as ddml's DDD runs (and ExaDiS's examples). On the built-in MD networks it gives a mean
#: segment of 7.6 b and 63 nodes in the first frame (maxseg 20 / minseg 7: 12.5 b and 41 nodes; coarsening to
#: minseg 7 merges most corners of the 8 b prismatic loops).
MAXSEG = 15.0
MINSEG = 5.0


class DXAError(RuntimeError):
    """OVITO's DXA failed on a frame."""


@dataclass
class FrameReport:
    """What happened to one dump file."""

    file: str
    step: int
    status: str  # 'ok' or 'skipped'
    reason: str = ""
    index: int | None = None  # frame index in the store
    time_s: float | None = None
    strain: float | None = None
    nodes: int = 0
    segments: int = 0
    dxa_nodes: int = 0
    dxa_segments: int = 0
    dangling_ends: int = 0
    junction_100_length_b: float = 0.0
    other_burgers_length_b: float = 0.0
    length_b: float = 0.0
    density_m2: float = 0.0
    mean_segment_b: float = 0.0
    seconds: float = 0.0


@dataclass
class ExtractionReport:
    """Per-frame outcomes of `extract_trajectory`."""

    store: str
    frames: list[FrameReport] = field(default_factory=list)

    @property
    def stored(self) -> list[FrameReport]:
        return [f for f in self.frames if f.status == "ok"]

    @property
    def skipped(self) -> list[FrameReport]:
        return [f for f in self.frames if f.status != "ok"]

    def summary(self) -> str:
        lines = [f"{len(self.stored)} frames stored in {self.store}, {len(self.skipped)} skipped"]
        lines += [f"  skipped {Path(f.file).name} (step {f.step}): {f.reason}" for f in self.skipped]
        dangling = [f for f in self.stored if f.dangling_ends]
        if dangling:
            lines.append(f"  {len(dangling)} stored frames have dangling DXA line ends (pinned nodes), at most "
                         f"{max(f.dangling_ends for f in dangling)}")
        return "\n".join(lines)

    def write_json(self, path: str | os.PathLike) -> None:
        from ddml_engine.io._atomic import write_text_atomic

        write_text_atomic(path, json.dumps({"store": self.store, "frames": [asdict(f) for f in self.frames]},
                                           indent=1) + "\n")


# ----------------------------------------------------------------------------- DXA
def dxa_to_ca(dump_path: str | os.PathLike, ca_path: str | os.PathLike) -> None:
    """Run OVITO's DXA (BCC) on one atom file (any format OVITO reads) and export the .ca file."""
    try:
        from ovito.io import export_file, import_file
        from ovito.modifiers import DislocationAnalysisModifier
    except ImportError as exc:  # pragma: no cover - ovito is a project requirement
        raise DXAError(f"the ovito module is needed for DXA: {exc}") from exc
    try:
        pipeline = import_file(os.fspath(dump_path))
        pipeline.modifiers.append(DislocationAnalysisModifier(
            input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC))
        data = pipeline.compute()
        if data.dislocations is None:
            raise DXAError(f"{dump_path}: DXA produced no dislocation output")
        export_file(pipeline, os.fspath(ca_path), "ca")
    except DXAError:
        raise
    except Exception as exc:  # OVITO raises RuntimeError and others on unreadable/degenerate frames
        raise DXAError(f"{dump_path}: DXA failed: {exc}") from exc


def dxa_network(dump_path: str | os.PathLike, burgers_magnitude_angstrom: float,
                burgers: str = "crystal") -> DislocationNetwork:
    """DXA network of one atom file, in units of b (see module doc, steps 1-2); not validated."""
    from ddml_engine.io.ca import read_ca

    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "frame.ca"
        dxa_to_ca(dump_path, ca)
        return read_ca(ca, burgers_magnitude_angstrom=burgers_magnitude_angstrom, burgers=burgers)


# ----------------------------------------------------------------------------- checks and clean-up
def check_network(network: DislocationNetwork) -> str:
    """'' when the network passes validation and Frank's rule, else the reason (names nodes/segments)."""
    try:
        network.validate(check_frank=True)
    except NetworkError as exc:
        return str(exc)
    return ""


def burgers_lengths(network: DislocationNetwork) -> dict[str, float]:
    """Line length (b) per BCC Burgers class."""
    classes = network.segment_classes()
    lengths = network.segment_lengths()
    return {"glissile_111": float(lengths[classes == GLISSILE_111].sum()),
            "junction_100": float(lengths[classes == JUNCTION_100].sum()),
            "other": float(lengths[classes == OTHER_BURGERS].sum())}


def remesh_network(network: DislocationNetwork, maxseg: float = MAXSEG, minseg: float = MINSEG) -> DislocationNetwork:
    """DDD discretisation of a DXA network (ddml_engine.dynamics.topology.remesh)."""
    from ddml_engine.dynamics.topology import remesh

    if network.num_segments == 0:
        return network
    return remesh(network, maxseg, minseg)


def process_dump(dump_path: str | os.PathLike, material: Material, maxseg: float = MAXSEG,
                 minseg: float = MINSEG, burgers: str = "crystal",
                 dangling: str = "keep") -> tuple[DislocationNetwork | None, FrameReport]:
    """DXA -> checks -> remesh for one dump file. Returns (network or None when skipped, report)."""
    from ddml_engine.md.lammps import dump_step

    start = time.perf_counter()
    path = Path(dump_path)
    try:
        step = dump_step(path)
    except ValueError:
        step = -1
    rep = FrameReport(file=str(path), step=step, status="skipped")
    try:
        raw = dxa_network(path, material.burgers_m / ANGSTROM, burgers=burgers)
    except (DXAError, ValueError, OSError) as exc:
        rep.reason = f"DXA/conversion failed: {exc}"
        rep.seconds = time.perf_counter() - start
        return None, rep
    net = clean_dxa_network(raw, rep, material, maxseg, minseg, dangling)
    rep.seconds = time.perf_counter() - start
    return net, rep


def clean_dxa_network(raw: DislocationNetwork, rep: FrameReport, material: Material, maxseg: float = MAXSEG,
                      minseg: float = MINSEG, dangling: str = "keep") -> DislocationNetwork | None:
    """Checks and remesh of a DXA network (module doc, steps 3-4); fills `rep`; None when the frame is skipped."""
    rep.dxa_nodes, rep.dxa_segments = raw.num_nodes, raw.num_segments
    rep.dangling_ends = int(np.sum(raw.constraints == PINNED_NODE))
    problem = check_network(raw)
    if problem:
        rep.reason = f"DXA network invalid: {problem}"
    elif dangling == "skip" and rep.dangling_ends:
        rep.reason = f"{rep.dangling_ends} dangling DXA line ends"
    else:
        net = remesh_network(raw, maxseg, minseg)
        problem = check_network(net)
        if problem:
            rep.reason = f"remeshed network invalid: {problem}"
        else:
            lengths = burgers_lengths(net)
            rep.status = "ok"
            rep.nodes, rep.segments = net.num_nodes, net.num_segments
            rep.length_b = net.total_length()
            rep.junction_100_length_b = lengths["junction_100"]
            rep.other_burgers_length_b = lengths["other"]
            rep.density_m2 = net.density(material.burgers_m)
            rep.mean_segment_b = float(net.segment_lengths().mean()) if net.num_segments else 0.0
            return net
    return None


# ----------------------------------------------------------------------------- trajectory
def _time_and_strain(cfg: dict, step: int, log_time: float, log_strain: float) -> tuple[float, float]:
    """Exact time (s) and true strain of a dump step from the run's configuration (the log's columns are
    window means); falls back to the log's values without a configuration."""
    try:
        t = step * float(cfg["timestep"]) * 1e-12
        sign = 1.0 if cfg["mode"] == "tension" else -1.0
        return t, sign * float(cfg["strain_rate"]) * t
    except (KeyError, TypeError, ValueError):
        return log_time, log_strain


def extract_trajectory(run_dir: str | os.PathLike, store_path: str | os.PathLike | None = None,
                       material: Material | str = "W", maxseg: float = MAXSEG, minseg: float = MINSEG,
                       force_model: str | None = "fft", grid: int = 32, burgers: str = "crystal",
                       dangling: str = "keep", every: int = 1, max_frames: int | None = None,
                       progress: bool = False) -> ExtractionReport:
    """DXA every `every`-th dump of an MD run directory (ddml_engine.md.lammps) into a SnapshotStore.

    store_path defaults to <run_dir>/networks.h5 (overwritten); the per-frame report goes to
    <store>.report.json. `force_model` (make_force_model name, None to skip) gives F^DDD (Pa*b^2) with each
    frame's MD stress, stored as extra 'forces'. Frame time is the time since the start of loading (s).
    """
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.md.lammps import dump_files, read_stress_log

    run_dir = Path(run_dir)
    mat = material_preset(material) if isinstance(material, str) else material
    if dangling not in ("keep", "skip"):
        raise ValueError(f"dangling must be 'keep' or 'skip', got '{dangling}'")
    store_path = Path(store_path) if store_path is not None else run_dir / "networks.h5"
    files = dump_files(run_dir / "dumps")[::max(1, int(every))]
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        raise FileNotFoundError(f"no dump files (dump.<step>.lammpstrj[.gz]) in {run_dir / 'dumps'}")
    log = read_stress_log(run_dir / "stress.dat")
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    model = make_force_model(force_model, mat, grid=grid) if force_model else None
    report = ExtractionReport(str(store_path))
    metadata = {"source": "md", "run_dir": str(run_dir.resolve()), "md_config": config.get("config", {}),
                "potential": config.get("potential", ""), "maxseg": maxseg, "minseg": minseg,
                "burgers_mode": burgers, "force_model": force_model or "", "fft_grid": grid,
                "stress_convention": "Voigt xx yy zz yz xz xy, Pa, tension positive (sigma = -p_LAMMPS)"}
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="DXA", unit="frame")
    with SnapshotStore(store_path, "w", material=mat, metadata=metadata) as store:
        for path in iterator:
            net, rep = process_dump(path, mat, maxseg, minseg, burgers, dangling)
            if rep.step >= 0:
                try:
                    row = log.at_step(rep.step)
                except KeyError as exc:
                    net, rep.status, rep.reason = None, "skipped", str(exc)
                else:
                    rep.time_s, rep.strain = _time_and_strain(config.get("config", {}), rep.step,
                                                              float(log.time[row]), float(log.strain[row]))
            elif net is not None:
                net, rep.status, rep.reason = None, "skipped", "dump file name carries no time step"
            if net is not None:
                stress = log.stress[row]
                extra = {"step": rep.step, "strain": rep.strain, "temperature_K": float(log.temperature[row]),
                         "dangling_ends": rep.dangling_ends, "dxa_nodes": rep.dxa_nodes,
                         "dxa_segments": rep.dxa_segments, "source_file": Path(path).name}
                if model is not None:
                    extra["forces"] = model(net, stress)
                rep.index = store.append(net, rep.time_s, stress, **extra)
            report.frames.append(rep)
    report.write_json(str(store_path) + ".report.json")
    return report
