"""Training data for the GNN mobility by Nye-field matching (Bertin, Bulatov & Zhou 2024, Eq. 5).

A sample is a pair of snapshots (G^t, G^(t+dt)) of one trajectory, dt = k x the snapshot interval. It carries
  - the GNN input graph of G^t, with the DDD nodal forces F^DDD of G^t under the stress recorded with frame t
    (`make_force_model(...)(network, frame.stress)`, Pa*b^2),
  - the segments of G^t: end points x1, x2 (x2 unwrapped, x1 + minimum-image segment vector, units of b),
    Burgers vectors b and the node index of both ends (to move ends by nodal velocities),
  - the target: half-spectrum Nye coefficients A = rfftn(alpha(G^(t+dt)) on an n^3 grid) (`ddml_engine.nye`),
  - the zero-velocity ("static") loss sum_grid |alpha(G^t) - alpha(G^(t+dt))|^2 (Parseval on the spectra).

Band limit: the Gaussian kernel (width sigma, ~2 grid spacings) makes every Fourier mode of alpha beyond
|k| ~ 3 / sigma negligible, so the spectra are computed and stored only for the modes of a coarser n_s^3 grid
(|m_a| < n_s / 2; `spectral_grid`); those coefficients are exactly the low modes of the n^3 grid's spectrum
times (n_s / n)^3. Losses on the n^3 grid are (n / n_s)^3 times the losses from the n_s spectra, the dropped
modes weighing less than `mode_tolerance` = exp(-(sigma k_cut)^2) each, k_cut = pi n_s / (largest cell height)
the first dropped mode. `auto_spectral_grid` picks the smallest even n_s meeting the tolerance (1e-4: n_s = n/2
for sigma = 2 grid spacings), which cuts the Nye work and the cache size by (n / n_s)^3 (8x).

Cache: the expensive parts (forces, Nye spectra) are computed once per *frame* and stored in one HDF5 file per
trajectory, `<cache_dir>/<trajectory stem>.<key hash>.h5`. The key holds the trajectory's absolute path,
modification time and size, the force model (name, cutoff, grid), the material, the Nye grid, kernel and
width, and the stored precision. It does not depend on k: a frame is the target of one pair and the source of
another, so every k reuses the same cache (the static loss of a pair is computed from the two cached spectra).
A pair is skipped when a snapshot interval inside it is off the trajectory's median interval (restart, gap,
duplicated frame) or when the cell changes between its frames by more than `cell_tolerance` (relative); the
reasons are counted (`NyeDataset.skip_reasons`).

Deforming cells (MD under load): a pair whose cell changes (H^t, o^t -> H^(t+dt), o^(t+dt)) is compared on the
later cell, with the earlier network mapped affinely, x -> o^(t+dt) + H^(t+dt) (H^t)^-1 (x - o^t), before the
displacements V dt are added: the prediction is alpha(A r^t + V dt) on the cell of frame t + dt, and the
zero-velocity reference (source spectrum, static loss) is alpha(A r^t) there, so a pure affine deformation of
the network costs nothing at V = 0. The mapped source spectra are computed when the dataset is built.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import torch

from ddml_engine.materials import Material
from ddml_engine.ml.graph import FORCE_SCALE, LENGTH_SCALE, GraphBatch, collate, directed_edges, node_features, raw_inputs
from ddml_engine.ml.symmetry import CUBE_ROTATIONS, rotate_cell, rotate_half_spectrum, rotate_points
from ddml_engine.network import PINNED_NODE, DislocationNetwork

CACHE_FORMAT = "ddml-nye-cache"
CACHE_VERSION = 1
FORCE_EVALUATIONS = 0  # frames whose DDD forces were computed in this process (tests check cache reuse)

_FRAME_ARRAYS = ("forces", "node_flags", "segments", "burgers", "segment_vectors", "segment_flags", "pinned",
                 "x1", "x2", "cell_matrix", "cell_origin")


# --------------------------------------------------------------------------------------------- settings and keys
@dataclass(frozen=True)
class CacheSettings:
    """What the cached arrays depend on (besides the trajectory file)."""

    force_model: str
    cutoff: float | None
    force_grid: int
    material: Material
    grid: int
    sigma: float  # Gaussian width in grid spacings (used when sigma_b <= 0)
    sigma_b: float  # width in b (overrides sigma when > 0)
    kernel: str = "gaussian"
    precision: str = "float32"  # stored precision of the Nye spectra ("float32" or "float64")
    spectral_grid: int = 0  # n_s: modes kept (see module docstring); 0 = all modes of the n^3 grid

    @property
    def modes(self) -> int:
        """Grid size n_s whose half spectrum is stored and compared."""
        return self.spectral_grid or self.grid

    @property
    def grid_factor(self) -> float:
        """(n / n_s)^3: sum over the n^3 grid = grid_factor x sum computed from the n_s spectra."""
        return (self.grid / self.modes) ** 3

    def sigma_for(self, cell_matrix: np.ndarray) -> float:
        """Kernel width in b: sigma_b, or sigma x the grid spacing (V / n^3)^(1/3) of this cell."""
        if self.sigma_b > 0:
            return float(self.sigma_b)
        return float(self.sigma) * abs(np.linalg.det(cell_matrix)) ** (1.0 / 3.0) / self.grid

    def key(self, trajectory: str | os.PathLike) -> dict[str, Any]:
        path = Path(trajectory).resolve()
        st = path.stat()
        return {"format": CACHE_FORMAT, "version": CACHE_VERSION, "trajectory": str(path),
                "mtime_ns": st.st_mtime_ns, "size": st.st_size, "force_model": self.force_model,
                "cutoff": self.cutoff if self.force_model == "elastic-cutoff" else None,
                "force_grid": self.force_grid if self.force_model == "fft" else None,
                "material": asdict(self.material), "grid": self.grid, "sigma": self.sigma, "sigma_b": self.sigma_b,
                "kernel": self.kernel, "precision": self.precision, "spectral_grid": self.modes}


def auto_spectral_grid(cell_matrix: np.ndarray, sigma_b: float, grid: int, tolerance: float = 1e-4) -> int:
    """Smallest even n_s <= grid with exp(-(sigma_b pi n_s / h_max)^2) <= tolerance (h_max: largest cell height)."""
    heights = 1.0 / np.linalg.norm(np.linalg.inv(np.asarray(cell_matrix, float)), axis=1)
    need = heights.max() * np.sqrt(-np.log(tolerance)) / (np.pi * sigma_b)
    ns = int(2 * np.ceil(need / 2.0 - 1e-9))
    return int(min(grid, max(4, ns)))


def cache_path(trajectory: str | os.PathLike, settings: CacheSettings, cache_dir: str | os.PathLike | None = None) -> Path:
    """Cache file of a trajectory: <cache_dir or trajectory dir/.ddml_cache>/<stem>.<16 hex of the key hash>.h5."""
    traj = Path(trajectory).resolve()
    digest = hashlib.sha256(json.dumps(settings.key(traj), sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir else traj.parent / ".ddml_cache"
    return folder / f"{traj.stem}.{digest}.h5"


# --------------------------------------------------------------------------------------------- per-frame arrays
def nye_spectrum(x1: np.ndarray, x2: np.ndarray, burgers: np.ndarray, cell_matrix: np.ndarray,
                 cell_origin: np.ndarray, grid: int, sigma_b: float, kernel: str = "gaussian") -> np.ndarray:
    """Half-spectrum Nye coefficients (grid, grid, grid//2+1, 3, 3) complex128 of one network (float64)."""
    from ddml_engine.nye import nye_field_fourier

    t = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    with torch.no_grad():
        return nye_field_fourier(t(x1), t(x2), t(burgers), t(cell_matrix), t(cell_origin), grid, sigma_b,
                                 kernel).numpy()


def spectrum_sumsq(a: np.ndarray, b: np.ndarray | None = None) -> float:
    """sum over grid points and components of |alpha_a - alpha_b|^2 from half spectra (Parseval, numpy)."""
    from ddml_engine.nye import parseval_weights

    d = a if b is None else a.astype(np.complex128) - b
    nx, ny, nz = d.shape[0], d.shape[1], 2 * (d.shape[2] - 1)
    w = parseval_weights((nx, ny, nz)).numpy()
    sq = (d.real**2 + d.imag**2).sum(axis=(0, 1, 3, 4))
    return float((sq * w).sum() / (nx * ny * nz))


def frame_arrays(network: DislocationNetwork, stress: np.ndarray, force_model, settings: CacheSettings,
                 where: str = "") -> dict[str, np.ndarray]:
    """Cached arrays of one frame: GNN raw inputs with F^DDD(stress), segment end points, Nye spectrum."""
    global FORCE_EVALUATIONS
    cell = network.cell
    if not all(cell.periodic):
        raise ValueError(f"{where}: the Nye-field loss needs a fully periodic cell, got periodic={cell.periodic}")
    forces = force_model(network, stress)
    FORCE_EVALUATIONS += 1
    raw = raw_inputs(network, forces)
    x1, x2 = network.segment_endpoints()
    sigma_b = settings.sigma_for(cell.matrix)
    alpha = nye_spectrum(x1, x2, network.burgers, cell.matrix, cell.origin, settings.modes, sigma_b, settings.kernel)
    out = dict(raw)
    out.update(pinned=(network.constraints == PINNED_NODE), x1=x1, x2=x2, cell_matrix=cell.matrix,
               cell_origin=cell.origin)
    out["alpha"] = alpha.astype(np.complex64 if settings.precision == "float32" else np.complex128)
    out["alpha_sumsq"] = np.float64(spectrum_sumsq(alpha) * settings.grid_factor)
    out["sigma_b"] = np.float64(sigma_b)
    return out


def _atomic_h5(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def build_cache(trajectory: str | os.PathLike, settings: CacheSettings, cache_dir: str | os.PathLike | None = None,
                progress: bool = False) -> Path:
    """Cache file of a trajectory, built (atomically) unless a file with the same key exists. Returns its path."""
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.io.store import SnapshotStore

    traj = Path(trajectory)
    if not traj.is_file():
        raise FileNotFoundError(f"trajectory file not found: {traj}")
    key = settings.key(traj)
    path = cache_path(traj, settings, cache_dir)
    if path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if json.loads(f.attrs["key"]) == json.loads(json.dumps(key)):
                    return path
        except (OSError, KeyError, ValueError):
            pass  # unreadable or foreign: rebuild
    force_model = make_force_model(settings.force_model, settings.material, cutoff=settings.cutoff,
                                   grid=settings.force_grid)
    tmp = _atomic_h5(path)
    try:
        with SnapshotStore(traj, "r") as store, h5py.File(tmp, "w") as out:
            out.attrs["key"] = json.dumps(key, sort_keys=True)
            out.attrs["format"] = CACHE_FORMAT
            n = len(store)
            times = np.empty(n)
            frames = out.create_group("frames")
            from tqdm import tqdm

            for i in tqdm(range(n), disable=not progress, desc=f"cache {traj.name}", unit="frame", leave=False):
                frame = store.read(i)
                where = f"{traj}, frame {i}"
                if frame.stress is None:
                    raise ValueError(f"{where}: no stress recorded; F^DDD needs each frame's stress")
                arrays = frame_arrays(frame.network, frame.stress, force_model, settings, where)
                group = frames.create_group(f"{i:08d}")
                for name, value in arrays.items():
                    value = np.asarray(value)
                    checked = value.size > 0 and value.ndim > 0  # Fletcher-32 checksums (chunked datasets only)
                    group.create_dataset(name, data=value, **({"fletcher32": True} if checked else {}))
                times[i] = frame.time
            out.create_dataset("times", data=times)
            out.attrs["num_frames"] = n
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# --------------------------------------------------------------------------------------------- pairs and split
def snapshot_pairs(times: np.ndarray, cells: np.ndarray, k: int, interval_tolerance: float = 0.01,
                   cell_tolerance: float = 0.05) -> tuple[np.ndarray, int]:
    """Frame pairs (i, i + k) of one trajectory with uniform spacing inside, and the number skipped.

    The snapshot interval is the median of the positive time differences; a difference off it by more than
    interval_tolerance (relative) breaks the chain (restart, gap, duplicate frame). Pairs whose cell matrices
    differ by more than cell_tolerance (max relative entry change) are skipped too; smaller changes are handled
    exactly by the affine map of the module docstring.
    """
    pairs, reasons = snapshot_pairs_with_reasons(times, cells, k, interval_tolerance, cell_tolerance)
    return pairs, sum(reasons.values())


SKIP_INTERVAL = "a snapshot interval inside the pair is off the median interval (restart, gap or duplicate frame)"
SKIP_CELL = "the cell changes by more than data.cell_tolerance between the pair's frames"


def snapshot_pairs_with_reasons(times: np.ndarray, cells: np.ndarray, k: int, interval_tolerance: float = 0.01,
                                cell_tolerance: float = 0.05) -> tuple[np.ndarray, dict[str, int]]:
    """`snapshot_pairs`, with the skipped pairs counted by reason (SKIP_INTERVAL, SKIP_CELL)."""
    times = np.asarray(times, float)
    n = len(times)
    if n <= k:
        return np.zeros((0, 2), np.int64), {}
    dts = np.diff(times)
    positive = dts[dts > 0]
    if not len(positive):
        return np.zeros((0, 2), np.int64), {SKIP_INTERVAL: n - k}
    interval = float(np.median(positive))
    bad = np.abs(dts - interval) > interval_tolerance * interval
    bad_count = np.concatenate([[0], np.cumsum(bad)])
    i = np.arange(n - k)
    regular = bad_count[i + k] - bad_count[i] == 0
    cells = np.asarray(cells, float)
    scale = np.abs(cells).max(axis=(1, 2))
    change = np.abs(cells[i + k] - cells[i]).max(axis=(1, 2)) / scale[i]
    small = change <= cell_tolerance
    ok = regular & small
    pairs = np.stack([i[ok], i[ok] + k], axis=1).astype(np.int64)
    reasons = {SKIP_INTERVAL: int((~regular).sum()), SKIP_CELL: int((regular & ~small).sum())}
    return pairs, {r: c for r, c in reasons.items() if c}


def affine_map(points: np.ndarray, cell_from: np.ndarray, origin_from: np.ndarray, cell_to: np.ndarray,
               origin_to: np.ndarray) -> np.ndarray:
    """x -> o' + H' H^-1 (x - o): points carried by the homogeneous deformation that takes cell H to H'."""
    mapping = np.asarray(cell_to, float) @ np.linalg.inv(np.asarray(cell_from, float))
    return np.asarray(origin_to, float) + (np.asarray(points, float) - np.asarray(origin_from, float)) @ mapping.T


def split_trajectories(trajectories: Sequence[str], validation: Sequence[str] = (), val_fraction: float = 0.2,
                       seed: int = 0) -> tuple[list[str], list[str]]:
    """(training, validation) lists of whole trajectories: the given validation list, else a seeded random
    val_fraction of them (at least one when two or more are given and val_fraction > 0)."""
    trajectories = [str(p) for p in trajectories]
    if validation:
        val = [str(p) for p in validation]
        overlap = {str(Path(p).resolve()) for p in val} & {str(Path(p).resolve()) for p in trajectories}
        if overlap:
            raise ValueError(f"trajectories both in training and validation: {sorted(overlap)}")
        return trajectories, val
    if len(trajectories) < 2 or val_fraction <= 0:
        return trajectories, []
    n_val = min(len(trajectories) - 1, max(1, int(round(val_fraction * len(trajectories)))))
    order = np.random.default_rng(seed).permutation(len(trajectories))
    val_idx = set(order[:n_val].tolist())
    return ([p for i, p in enumerate(trajectories) if i not in val_idx],
            [p for i, p in enumerate(trajectories) if i in val_idx])


# --------------------------------------------------------------------------------------------- samples
@dataclass
class Sample:
    """One snapshot pair (see module docstring); tensors on the CPU, float64 geometry."""

    graph: GraphBatch
    x1: torch.Tensor  # (M, 3)
    x2: torch.Tensor  # (M, 3) unwrapped
    burgers: torch.Tensor  # (M, 3)
    segments: torch.Tensor  # (M, 2) node index of both ends
    cell: torch.Tensor  # (3, 3)
    origin: torch.Tensor  # (3,)
    dt: float  # s
    target: torch.Tensor  # (n, n, n//2+1, 3, 3) complex
    source: torch.Tensor  # the same for G^t (alpha of the unmoved network)
    static_loss: float  # sum_grid |alpha(G^t) - alpha_target|^2
    target_sumsq: float  # sum_grid |alpha_target|^2
    sigma_b: float
    key: tuple[int, int, int]  # (trajectory index, frame t, frame t + dt)
    grid: int = 32  # nominal n^3 grid of the loss
    modes: int = 32  # n_s: the target holds the half spectrum of an n_s^3 grid
    kernel: str = "gaussian"


@dataclass
class Batch:
    """Mini-batch of B samples: the collated graph and concatenated segments (global node indices)."""

    graph: GraphBatch
    x1: torch.Tensor
    x2: torch.Tensor
    burgers: torch.Tensor
    segments: torch.Tensor  # (M, 2) indices into the batch's nodes
    segment_graph: torch.Tensor  # (M,)
    cells: torch.Tensor  # (B, 3, 3)
    origins: torch.Tensor  # (B, 3)
    dt: torch.Tensor  # (B,)
    target: torch.Tensor  # (B, n, n, n//2+1, 3, 3) complex
    source: torch.Tensor  # (B, n, n, n//2+1, 3, 3) complex, spectra of the unmoved G^t
    static_loss: torch.Tensor  # (B,)
    target_sumsq: torch.Tensor  # (B,)
    sigma_b: torch.Tensor  # (B,)
    keys: list
    grid: int = 32
    modes: int = 32
    kernel: str = "gaussian"

    @property
    def grid_factor(self) -> float:
        return (self.grid / self.modes) ** 3

    @property
    def num_graphs(self) -> int:
        return int(self.cells.shape[0])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Batch":
        """Move to a device; floating tensors (complex: matching precision) to `dtype` except the float64
        cells/origins/losses."""
        cdtype = None if dtype is None else (torch.complex64 if dtype == torch.float32 else torch.complex128)
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "graph":
                v = v.to(device, dtype)
            elif f.name in ("cells", "origins", "dt", "static_loss", "target_sumsq", "sigma_b"):
                v = v.to(device)
            elif not isinstance(v, torch.Tensor):
                pass
            else:
                target_dtype = cdtype if v.is_complex() else (dtype if v.is_floating_point() else None)
                v = v.to(device=device, dtype=target_dtype)
            out[f.name] = v
        return Batch(**out)


def collate_samples(samples: Sequence[Sample]) -> Batch:
    """Disjoint union of samples of different sizes: node indices of each sample offset by the nodes before it."""
    if not samples:
        raise ValueError("collate_samples needs at least one sample")
    counts = [s.graph.num_nodes for s in samples]
    offsets = np.cumsum([0] + counts[:-1])
    return Batch(
        graph=collate([s.graph for s in samples]),
        x1=torch.cat([s.x1 for s in samples]), x2=torch.cat([s.x2 for s in samples]),
        burgers=torch.cat([s.burgers for s in samples]),
        segments=torch.cat([s.segments + int(o) for s, o in zip(samples, offsets)]),
        segment_graph=torch.cat([torch.full((len(s.x1),), g, dtype=torch.int64) for g, s in enumerate(samples)]),
        cells=torch.stack([s.cell for s in samples]), origins=torch.stack([s.origin for s in samples]),
        dt=torch.tensor([s.dt for s in samples], dtype=torch.float64),
        target=torch.stack([s.target for s in samples]), source=torch.stack([s.source for s in samples]),
        static_loss=torch.tensor([s.static_loss for s in samples], dtype=torch.float64),
        target_sumsq=torch.tensor([s.target_sumsq for s in samples], dtype=torch.float64),
        sigma_b=torch.tensor([s.sigma_b for s in samples], dtype=torch.float64),
        keys=[s.key for s in samples], grid=samples[0].grid, modes=samples[0].modes, kernel=samples[0].kernel)


def _rotated(frame: dict[str, np.ndarray], target: np.ndarray, rotation: np.ndarray
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A frame's arrays and a spectrum rotated by a cube rotation about the cell centre (ml.symmetry)."""
    out = dict(frame)
    for name in ("forces", "burgers", "segment_vectors"):
        out[name] = frame[name] @ rotation.T
    for name in ("x1", "x2"):
        out[name] = rotate_points(frame[name], rotation, frame["cell_matrix"], frame["cell_origin"])
    out["cell_matrix"], out["cell_origin"] = rotate_cell(frame["cell_matrix"], frame["cell_origin"], rotation)
    return out, rotate_half_spectrum(target, rotation)


class NyeDataset:
    """Snapshot pairs of one or more cached trajectories (`build_cache`), indexable: dataset[i] -> Sample.

    Frame inputs (graphs, segments) are held in memory; Nye spectra too while their total size is below
    preload_mb, otherwise they are read from the cache files on access (one h5py handle per process).
    """

    def __init__(self, cache_files: Sequence[str | os.PathLike], k: int | Sequence[int] = 1,
                 interval_tolerance: float = 0.01,
                 cell_tolerance: float = 0.05, force_scale: float = FORCE_SCALE, length_scale: float = LENGTH_SCALE,
                 preload_mb: float = 2048.0, trajectories: Sequence[str] | None = None):
        self.cache_files = [str(p) for p in cache_files]
        self.trajectories = [str(p) for p in trajectories] if trajectories else []
        self.lags = tuple(sorted({int(v) for v in (k if isinstance(k, (list, tuple)) else [k])}))
        self.force_scale, self.length_scale = float(force_scale), float(length_scale)
        self._frames: list[list[dict[str, np.ndarray]]] = []
        self._alpha: dict[tuple[int, int], np.ndarray] = {}
        self._handles: dict[int, h5py.File] = {}
        self.grid, self.modes, self.kernel = 0, 0, "gaussian"
        self.times: list[np.ndarray] = []
        self.skipped = 0
        self.skip_reasons: dict[str, int] = {}
        self._mapped: dict[tuple[int, int, int], dict[str, np.ndarray]] = {}  # pairs on a deforming cell
        pairs, statics, sumsqs = [], [], []
        total_bytes = 0
        for t, path in enumerate(self.cache_files):
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != CACHE_FORMAT:
                    raise ValueError(f"{path}: not a ddml Nye cache file")
                key = json.loads(f.attrs["key"])
                if t == 0:
                    self.key = key
                    self.grid, self.modes = int(key["grid"]), int(key["spectral_grid"])
                    self.kernel = key["kernel"]
                elif (key["grid"], key["spectral_grid"], key["kernel"]) != (self.grid, self.modes, self.kernel):
                    raise ValueError(f"{path}: Nye grid/kernel differ from those of {self.cache_files[0]}")
                factor = (self.grid / self.modes) ** 3
                if not trajectories:
                    self.trajectories.append(key["trajectory"])
                times = f["times"][()]
                group = f["frames"]
                names = [f"{i:08d}" for i in range(len(times))]
                frames = [{a: group[nm][a][()] for a in _FRAME_ARRAYS + ("alpha_sumsq", "sigma_b")} for nm in names]
                cells = np.stack([fr["cell_matrix"] for fr in frames]) if frames else np.zeros((0, 3, 3))
                per_lag = [snapshot_pairs_with_reasons(times, cells, lag, interval_tolerance, cell_tolerance)
                           for lag in self.lags]
                p = np.concatenate([pl for pl, _ in per_lag])
                p = p[np.lexsort((p[:, 1], p[:, 0]))]  # by start frame, then end frame (cache read in order)
                for _, reasons in per_lag:
                    for reason, count in reasons.items():
                        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + count
                        self.skipped += count
                total_bytes += sum(group[nm]["alpha"].nbytes for nm in names)
                preload = total_bytes <= preload_mb * 2**20
                window: dict[int, np.ndarray] = {}
                for i, j in p:  # static loss from the two cached spectra (read in order, small window)
                    for fr in (int(i), int(j)):
                        if fr not in window:
                            window[fr] = group[names[fr]]["alpha"][()]
                    source = window[int(i)]
                    if not np.array_equal(frames[int(i)]["cell_matrix"], frames[int(j)]["cell_matrix"]) or \
                            not np.array_equal(frames[int(i)]["cell_origin"], frames[int(j)]["cell_origin"]):
                        mapped = self._map_pair(frames[int(i)], frames[int(j)], key)
                        self._mapped[(t, int(i), int(j))] = mapped
                        source = mapped["alpha"]
                    statics.append(spectrum_sumsq(source, window[int(j)]) * factor)
                    sumsqs.append(float(frames[int(j)]["alpha_sumsq"]))
                    pairs.append((t, int(i), int(j)))
                    if preload:
                        self._alpha[(t, int(i))] = window[int(i)]
                        self._alpha[(t, int(j))] = window[int(j)]
                    for old in [fr for fr in window if fr < i]:
                        del window[old]
            self._frames.append(frames)
            self.times.append(times)
        self.preloaded = total_bytes <= preload_mb * 2**20
        if not self.preloaded:
            self._alpha.clear()
        self.pairs = pairs
        self.static_losses = np.asarray(statics, float)
        self.grid_factor = (self.grid / self.modes) ** 3 if self.cache_files else 1.0
        self.target_sumsqs = np.asarray(sumsqs, float)
        self.rotations: np.ndarray | None = None  # cube rotation index per pair (ml.symmetry), None = as stored

    def _map_pair(self, early: dict[str, np.ndarray], late: dict[str, np.ndarray], key: dict) -> dict[str, np.ndarray]:
        """Frame arrays of `early` carried affinely onto the cell of `late` (module docstring), with the Nye
        spectrum of the mapped network there (the zero-velocity reference of the pair)."""
        args = (early["cell_matrix"], early["cell_origin"], late["cell_matrix"], late["cell_origin"])
        x1, x2 = affine_map(early["x1"], *args), affine_map(early["x2"], *args)
        alpha = nye_spectrum(x1, x2, early["burgers"], late["cell_matrix"], late["cell_origin"], self.modes,
                             float(late["sigma_b"]), self.kernel)
        dtype = np.complex64 if key.get("precision") == "float32" else np.complex128
        return {"x1": x1, "x2": x2, "cell_matrix": late["cell_matrix"], "cell_origin": late["cell_origin"],
                "sigma_b": late["sigma_b"], "alpha": alpha.astype(dtype)}

    def skip_summary(self) -> str:
        """'n skipped: reason (count); ...' or '' when none were skipped."""
        if not self.skipped:
            return ""
        return f"{self.skipped} pairs skipped: " + "; ".join(f"{r} ({c})" for r, c in self.skip_reasons.items())

    def set_rotations(self, seed: int | None, epoch: int = 0) -> None:
        """Cubic-symmetry augmentation: pair i of this epoch is rotated, cell included, by CUBE_ROTATIONS[r_i],
        r_i drawn from numpy default_rng([seed, epoch, 24]); seed None switches it off."""
        if seed is None:
            self.rotations = None
            return
        self.rotations = np.random.default_rng([int(seed), int(epoch), len(CUBE_ROTATIONS)]).integers(
            len(CUBE_ROTATIONS), size=len(self))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def close(self) -> None:
        for h in self._handles.values():
            h.close()
        self._handles.clear()

    def _read_alpha(self, t: int, i: int) -> np.ndarray:
        if (t, i) in self._alpha:
            return self._alpha[(t, i)]
        if t not in self._handles:
            self._handles[t] = h5py.File(self.cache_files[t], "r")
        return self._handles[t]["frames"][f"{i:08d}"]["alpha"][()]

    def dt(self, index: int) -> float:
        t, i, j = self.pairs[index]
        return float(self.times[t][j] - self.times[t][i])

    def __getitem__(self, index: int) -> Sample:
        t, i, j = self.pairs[index]
        fr = self._frames[t][i]
        target = self._read_alpha(t, j)
        mapped = self._mapped.get((t, i, j))
        if mapped is None:
            source = self._read_alpha(t, i)
        else:  # a deforming cell: G^t carried onto the cell of frame t + dt
            fr = {**fr, **{name: value for name, value in mapped.items() if name != "alpha"}}
            source = mapped["alpha"]
        if self.rotations is not None and self.rotations[index]:
            rotation = CUBE_ROTATIONS[self.rotations[index]]
            fr, target = _rotated(fr, target, rotation)
            source = rotate_half_spectrum(source, rotation)
        as_t = torch.as_tensor
        nodes = node_features(as_t(fr["forces"]), as_t(fr["node_flags"]), self.force_scale)
        edge_index, edges = directed_edges(as_t(fr["segments"]), as_t(fr["burgers"]), as_t(fr["segment_vectors"]),
                                           as_t(fr["segment_flags"]), self.length_scale)
        n = len(nodes)
        graph = GraphBatch(nodes, edge_index, edges, torch.zeros(n, dtype=torch.int64), 1,
                           as_t(fr["pinned"]).to(torch.bool))
        return Sample(graph, as_t(fr["x1"]), as_t(fr["x2"]), as_t(fr["burgers"]), as_t(fr["segments"]),
                      as_t(fr["cell_matrix"]), as_t(fr["cell_origin"]), self.dt(index),
                      torch.from_numpy(np.ascontiguousarray(target)), torch.from_numpy(np.ascontiguousarray(source)),
                      float(self.static_losses[index]), float(self.target_sumsqs[index]), float(fr["sigma_b"]),
                      (t, i, j), self.grid, self.modes, self.kernel)

    def batch(self, indices: Sequence[int]) -> Batch:
        return collate_samples([self[int(i)] for i in indices])

    def mean_dt(self) -> float:
        return float(np.mean([self.dt(i) for i in range(len(self))])) if len(self) else 0.0
