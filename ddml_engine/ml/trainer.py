"""Trainer of the GNN mobility by Nye-field matching (Bertin, Bulatov & Zhou 2024, Eq. 5).

For a snapshot pair (G^t, G^(t+dt)) the GNN gives nodal velocities V (b/s) of G^t; every segment end moves
with its node, x -> x + V dt (pinned nodes stay), and the Nye field of the moved network is compared with that of
G^(t+dt) (ml.losses). train.loss selects the comparison:

  "relative" (default)  L_p = log2(1 + sum_x w_p |R|^2 / sum_x w_p |R0|^2), w_p(x) ~ 1 / |u_pred|^2 near the lines
                        (detached), R = alpha(r^t + V dt) - alpha(G^(t+dt)), R0 = alpha(G^t) - alpha(G^(t+dt));
                        every pair scores 1 at V = 0 and each line weighs by its relative error (ml.losses).
  "absolute"            the paper's Eq. 5, L = sum_grid |R|^2, divided by a dataset-wide scale
                        (train.loss_normalization): "static" (default) the mean over the *training* pairs of the
                        zero-velocity loss, so a V = 0 model scores 1 on the training set; "target" or "none".

Pairs use every lag of data.k (frames). Input forces F^DDD come from the force model recorded in the
trajectories unless [forces] names one (`resolve_force_model`).

Mini-batch loss = sum over the pairs of the batch of L / (batch size x scale). Data parallel (torch.distributed):
every rank takes a disjoint shard (positions rank, rank + W, ...) of every global batch, computes the sum over
its shard divided by the *global* batch size, and the gradients are summed over ranks (all-reduce) before the
AdamW step: the update equals the single-process one up to summation order. Only rank 0 writes files.

Augmentation (train.augment = "cubic", the default): every training pair is rotated, cell included, afresh each
epoch by one of the 24 proper cube rotations (ml.symmetry; drawn from numpy default_rng([seed, epoch, 24]), so
resumed runs and all ranks agree). Validation pairs are used as stored.

Files in output.dir: last.pt (after every epoch: model, optimizer, scheduler, epoch, step, RNG states,
data order, history), best.pt, metrics.csv, summary.json and the exported model (ml.export, TorchScript).
Data order of epoch e is a permutation from numpy default_rng([seed, e]); resuming from last.pt continues with
bit-identical parameters at the same torch thread count (the count drops where other processes take cores,
parallel.LoadAwareThreads, unless train.deterministic; metrics.csv's torch_threads shows it per epoch).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.distributed as dist

from ddml_engine.io._atomic import atomic_path
from ddml_engine.ml.dataset import (Batch, CacheSettings, NyeDataset, auto_spectral_grid, build_cache,
                                    split_trajectories)
from ddml_engine.ml.losses import RelativeLossSettings, absolute_pair_losses
from ddml_engine.ml.losses import pair_losses as named_pair_losses
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.ml.train_config import load_train_config
from ddml_engine.parallel import LoadAwareThreads, configure_threads, resolve_threads

METRIC_FIELDS = ("epoch", "step", "train_loss", "val_loss", "val_static_loss", "lr", "epoch_time_s", "elapsed_s",
                 "torch_threads")  # the fewest torch threads a step of the epoch ran on (parallel.LoadAwareThreads)


# --------------------------------------------------------------------------------------------- loss
def pair_losses(batch: Batch, velocities: torch.Tensor) -> torch.Tensor:
    """Unnormalised Eq. 5 loss of every pair (B,) (ml.losses.absolute_pair_losses)."""
    return absolute_pair_losses(batch, velocities)


def model_velocities(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """GNN nodal velocities (N, 3) in b/s; pinned nodes get 0."""
    g = batch.graph
    v = model(g.node_features, g.edge_index, g.edge_features)
    return torch.where(g.pinned[:, None], torch.zeros_like(v), v)


# --------------------------------------------------------------------------------------------- data preparation
@dataclass
class DataInfo:
    settings: CacheSettings
    train_trajectories: list[str]
    val_trajectories: list[str]
    train_caches: list[str]
    val_caches: list[str]


def resolve_material(config: dict, trajectory: str | None):
    """Material from [material] (preset plus overrides) or, when name is empty, from the trajectory file."""
    from ddml_engine.materials import material

    m = config["material"]
    overrides = {k: v for k, v in m.items() if k != "name" and v}
    if m["name"]:
        return material(m["name"], **overrides)
    if trajectory is None:
        raise ValueError("training configuration: material.name is empty and there is no trajectory to read it from")
    from ddml_engine.io.store import SnapshotStore

    with SnapshotStore(trajectory, "r") as store:
        stored = store.material
    if stored is None:
        raise ValueError(f"{trajectory}: no material stored in the trajectory; set material.name in the configuration")
    return stored.with_overrides(**overrides)


def resolve_force_model(config: dict, trajectories: list[str]):
    """(ForceModelSpec, where it came from) for the input forces: [forces].model when given, else the model
    recorded in the trajectories (they must agree), else 'elastic-cutoff' with [forces].cutoff."""
    from ddml_engine.forces.model import ForceModelSpec
    from ddml_engine.io.store import SnapshotStore

    f = config["forces"]
    if f["model"]:
        return ForceModelSpec.of(f["model"], f["cutoff"], int(f["grid"])), "forces.model of the configuration"
    recorded = {}
    for path in trajectories:
        with SnapshotStore(path, "r") as store:
            recorded[path] = store.force_model
    found = {spec for spec in recorded.values() if spec is not None}
    if len(found) > 1:
        listing = "; ".join(f"{p}: {s}" for p, s in recorded.items())
        raise ValueError(f"the trajectories record different force models ({listing}); set forces.model")
    if found:
        missing = [p for p, s in recorded.items() if s is None]
        note = f"; {len(missing)} trajectories record none" if missing else ""
        return found.pop(), f"recorded in the trajectories{note}"
    return (ForceModelSpec.of("elastic-cutoff", f["cutoff"]),
            "no force model recorded in the trajectories (e.g. MD): elastic-cutoff, set forces.model to change")


def prepare_data(config: dict, build: bool = True, progress: bool = False) -> DataInfo:
    """Split trajectories (whole ones) and build or find their per-frame caches."""
    data = config["data"]
    if not data["trajectories"]:
        raise ValueError("training configuration: data.trajectories is empty; give the HDF5 snapshot stores")
    train_paths, val_paths = split_trajectories(data["trajectories"], data["validation"], float(data["val_fraction"]),
                                                int(config["train"]["seed"]))
    mat = resolve_material(config, train_paths[0])
    n = config["nye"]
    spec, origin = resolve_force_model(config, train_paths + val_paths)
    if build:  # once per run (data-parallel workers call this again with build=False)
        print(f"[ddml train] input forces F^DDD: {spec} ({origin}); material {mat.name}", flush=True)
    settings = CacheSettings(force_model=spec.name, cutoff=spec.cutoff, force_grid=int(spec.grid or 64),
                             material=mat, grid=int(n["grid"]), sigma=float(n["sigma"]), sigma_b=float(n["sigma_b"]),
                             kernel=n["kernel"], precision=config["train"]["dtype"])
    modes = int(n["spectral_grid"])
    if modes <= 0:  # auto: band limit from the kernel width, the largest over the trajectories' first cells
        from ddml_engine.io.store import SnapshotStore

        modes = 4
        for path in train_paths + val_paths:
            with SnapshotStore(path, "r") as store:
                if len(store) == 0:
                    continue
                cell = store.read(0).network.cell.matrix
            width = settings.sigma_for(cell) if n["kernel"] == "gaussian" else 0.0
            modes = max(modes, auto_spectral_grid(cell, width, settings.grid, float(n["mode_tolerance"]))
                        if width > 0 else settings.grid)
    settings = replace(settings, spectral_grid=min(modes, settings.grid))
    cache_dir = data["cache_dir"] or None
    caches = []
    for path in train_paths + val_paths:
        if build:
            caches.append(str(build_cache(path, settings, cache_dir, progress=progress)))
        else:
            from ddml_engine.ml.dataset import cache_path

            caches.append(str(cache_path(path, settings, cache_dir)))
    return DataInfo(settings, train_paths, val_paths, caches[:len(train_paths)], caches[len(train_paths):])


# --------------------------------------------------------------------------------------------- results and files
@dataclass
class TrainResult:
    """Outcome of `train`: where the files are, and the losses (normalised, see module docstring)."""

    output_dir: str
    model_path: str | None  # exported model (None when the run stopped before the last epoch)
    metrics_path: str
    checkpoint_path: str
    best_epoch: int
    best_loss: float  # validation loss of best.pt (training loss when there is no validation set)
    final_train_loss: float
    final_val_loss: float
    val_static_loss: float
    epochs_completed: int
    steps: int
    train_pairs: int
    val_pairs: int
    loss_scale: float
    history: list[dict[str, float]] = field(default_factory=list)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def load_checkpoint_file(path: Path, device) -> dict[str, Any]:
    """A ddml checkpoint, loaded with `weights_only=True`: tensors and plain data, never code (a planted or
    foreign file is refused with a one-line error)."""
    import pickle

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path}: not a ddml checkpoint that loads safely (tensors and plain data only; it may "
                         f"come from an older ddml or another program: move it away to start afresh): {first}")


def _as_tuples(value: Any) -> Any:
    """Lists back to tuples (random.setstate wants its nested tuple)."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _save_torch(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write_bytes(path, buffer.getvalue())


def _write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS)
    writer.writeheader()
    writer.writerows(history)
    _atomic_write_bytes(path, text.getvalue().encode())


def _json_clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats -> None, numpy scalars -> Python, other objects -> str."""
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return str(value)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------- trainer
class Trainer:
    """One process of a (possibly data-parallel) training run; use `train` rather than this class directly."""

    def __init__(self, config: dict, rank: int = 0, world_size: int = 1, data: DataInfo | None = None):
        self.config, self.rank, self.world_size = config, rank, world_size
        tr = config["train"]
        threads = resolve_threads(int(tr["threads"]) or None)
        if world_size > 1 and not int(tr["threads"]):  # data-parallel processes on one machine share the cores
            threads = max(1, threads // world_size)
        configure_threads(threads)
        # torch's threads follow the cores other processes leave free, unless the run must be bit-reproducible
        self.threads = None if tr["deterministic"] else LoadAwareThreads()
        if tr["deterministic"]:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.dtype = torch.float64 if tr["dtype"] == "float64" else torch.float32
        device = tr["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and world_size > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % max(1, torch.cuda.device_count())}"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.out = Path(config["output"]["dir"])
        self.data = data if data is not None else prepare_data(config, build=True)
        d, m = config["data"], config["model"]
        kw = dict(k=d["k"], interval_tolerance=float(d["interval_tolerance"]),
                  cell_tolerance=float(d["cell_tolerance"]), force_scale=float(m["force_scale"]),
                  length_scale=float(m["length_scale"]), preload_mb=float(d["preload_mb"]))
        self.train_set = NyeDataset(self.data.train_caches, trajectories=self.data.train_trajectories, **kw)
        self.val_set = NyeDataset(self.data.val_caches, trajectories=self.data.val_trajectories, **kw)
        if len(self.train_set) == 0:
            why = self.train_set.skip_summary() or "the trajectories have fewer frames than the largest lag + 1"
            raise ValueError(f"no usable snapshot pairs with data.k = {d['k']} in the training trajectories "
                             f"{self.data.train_trajectories}: {why}")
        for name, dataset in (("training", self.train_set), ("validation", self.val_set)):
            if dataset.skipped and self.rank == 0:
                print(f"[ddml train] {name}: {len(dataset)} pairs; {dataset.skip_summary()}", flush=True)
        norm = tr["loss_normalization"]
        self.loss = tr["loss"]
        self.loss_settings = RelativeLossSettings(float(tr["relative_floor"]), float(tr["density_floor"]))
        if self.loss == "relative":  # every pair is normalised by its own zero-velocity loss (ml.losses)
            self.scale = 1.0
        elif norm == "static":
            self.scale = float(self.train_set.static_losses.mean())
        elif norm == "target":
            self.scale = float(self.train_set.target_sumsqs.mean())
        else:
            self.scale = 1.0
        if not self.scale > 0:
            raise ValueError(f"loss normalisation '{norm}' is zero on the training pairs: nothing moved between "
                             "the snapshots of a pair (choose a larger data.k or loss_normalization='none')")
        self.seed = int(tr["seed"])
        self.augment = tr["augment"] == "cubic"
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        random.seed(self.seed)
        self.model = GNNMobilityModel(latent=int(m["latent"]), layers=int(m["layers"]),
                                      hidden=int(m["hidden"]) or None, encoder_norm=bool(m["encoder_norm"]),
                                      velocity_scale=float(m["velocity_scale"]), force_scale=float(m["force_scale"]),
                                      length_scale=float(m["length_scale"])).to(self.device, self.dtype)
        if self.world_size > 1:
            with torch.no_grad():
                for p in self.model.parameters():
                    dist.broadcast(p.data, 0)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=float(tr["lr"]),
                                           weight_decay=float(tr["weight_decay"]))
        self.batch_size = int(tr["batch_size"])
        self.steps_per_epoch = math.ceil(len(self.train_set) / self.batch_size)
        self.epochs = int(tr["epochs"])
        self.scheduler = None
        if tr["scheduler"] == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=self.epochs * self.steps_per_epoch,
                eta_min=float(tr["lr"]) * float(tr["lr_min_ratio"]))
        self.epoch, self.step, self.best_loss, self.best_epoch = 0, 0, math.inf, 0
        self.history: list[dict[str, float]] = []
        self.elapsed = 0.0
        if self.loss == "relative":
            self.val_static = 1.0 if len(self.val_set) else math.nan
        else:
            self.val_static = (float(self.val_set.static_losses.mean()) / self.scale) if len(self.val_set) else math.nan
        if config["output"]["resume"] and (self.out / "last.pt").is_file():
            self.load_checkpoint(self.out / "last.pt")

    # ----------------------------------------------------------------------------- checkpoints
    def epoch_order(self, epoch: int) -> np.ndarray:
        """Permutation of the training pairs for `epoch` (numpy default_rng([seed, epoch]))."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.train_set))

    def checkpoint(self) -> dict[str, Any]:
        """Tensors and plain Python data only, so that loading needs no pickle of arbitrary objects."""
        name, keys, pos, has_gauss, cached = np.random.get_state()
        numpy_state = {"bit_generator": str(name), "keys": torch.from_numpy(np.asarray(keys, np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
        rng = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"model": self.model.state_dict(), "model_config": self.model.config(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "epoch": self.epoch, "step": self.step, "best_loss": self.best_loss, "best_epoch": self.best_epoch,
                "rng": rng, "data_order": {"generator": "numpy.random.default_rng([seed, epoch]).permutation",
                                           "seed": self.seed, "next_epoch": self.epoch,
                                           "next_order": torch.from_numpy(self.epoch_order(self.epoch))},
                "history": self.history, "elapsed_s": self.elapsed, "loss_scale": self.scale,
                "config": self.config, "dtype": str(self.dtype)}

    def load_checkpoint(self, path: Path) -> None:
        state = load_checkpoint_file(path, self.device)
        if state["model_config"] != self.model.config():
            raise ValueError(f"{path}: model configuration {state['model_config']} differs from the current "
                             f"{self.model.config()}; resume with the same [model] section")
        if state["dtype"] != str(self.dtype):
            raise ValueError(f"{path}: written with {state['dtype']}, the configuration asks for {self.dtype}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_loss, self.best_epoch = float(state["best_loss"]), int(state["best_epoch"])
        self.history, self.elapsed = list(state["history"]), float(state["elapsed_s"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        n = rng["numpy"]
        np.random.set_state((n["bit_generator"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
        random.setstate(_as_tuples(rng["python"]))
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        if not np.array_equal(np.asarray(state["data_order"]["next_order"]), self.epoch_order(self.epoch)):
            raise ValueError(f"{path}: the training pairs differ from those of the interrupted run "
                             "(trajectories, k or cache changed); cannot resume exactly")

    # ----------------------------------------------------------------------------- steps
    def _allreduce_(self, tensors: list[torch.Tensor]) -> None:
        if self.world_size == 1:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for t in tensors:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()

    def _shard(self, indices: np.ndarray) -> np.ndarray:
        return indices[self.rank::self.world_size]

    def pair_losses(self, batch: Batch) -> torch.Tensor:
        """Per-pair loss (B,) of the configured kind (train.loss; ml.losses)."""
        return named_pair_losses(batch, model_velocities(self.model, batch), self.loss, self.loss_settings)

    def train_step(self, indices: np.ndarray) -> float:
        """One AdamW step on the global batch `indices`; returns the sum of normalised pair losses (all ranks)."""
        self.model.train()
        params = list(self.model.parameters())
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            else:
                p.grad.zero_()
        shard = self._shard(indices)
        total = torch.zeros(1, dtype=torch.float64, device=self.device)
        if len(shard):
            batch = self.train_set.batch(shard).to(self.device, self.dtype)
            per = self.pair_losses(batch)
            loss = per.sum() / (len(indices) * self.scale)
            loss.backward()
            total += per.detach().double().sum() / self.scale
        self._allreduce_([p.grad for p in params] + [total])
        clip = float(self.config["train"]["grad_clip"])
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        return float(total)

    @torch.no_grad()
    def evaluate(self, dataset: NyeDataset) -> float:
        """Mean normalised loss over a dataset (sharded over ranks); nan for an empty dataset."""
        if len(dataset) == 0:
            return math.nan
        self.model.eval()
        total = torch.zeros(1, dtype=torch.float64, device=self.device)
        mine = self._shard(np.arange(len(dataset)))
        for start in range(0, len(mine), self.batch_size):
            batch = dataset.batch(mine[start:start + self.batch_size]).to(self.device, self.dtype)
            per = self.pair_losses(batch)
            total += per.double().sum() / self.scale
        self._allreduce_([total])
        return float(total) / len(dataset)

    # ----------------------------------------------------------------------------- loop
    def _thread_setting(self):
        """torch's thread count for the next step: fixed when deterministic, else `parallel.LoadAwareThreads`."""
        return contextlib.nullcontext() if self.threads is None else self.threads.applied()

    def run(self, until_epoch: int | None = None) -> TrainResult:
        """Train up to `epochs` (or stop after `until_epoch` completed epochs, as an interruption would)."""
        from tqdm import tqdm

        main = self.rank == 0
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
        stop = self.epochs if until_epoch is None else min(self.epochs, int(until_epoch))
        if not self.history:  # initial row: the untrained model on validation
            val0 = self.evaluate(self.val_set)
            self.history.append({"epoch": 0, "step": 0, "train_loss": math.nan, "val_loss": val0,
                                 "val_static_loss": self.val_static, "lr": self.optimizer.param_groups[0]["lr"],
                                 "epoch_time_s": 0.0, "elapsed_s": 0.0})
        progress = bool(self.config["output"]["progress"]) and main
        while self.epoch < stop:
            start_time = time.perf_counter()
            order = self.epoch_order(self.epoch)
            self.train_set.set_rotations(self.seed if self.augment else None, self.epoch)
            batches = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
            lr = self.optimizer.param_groups[0]["lr"]
            total = 0.0
            bar = tqdm(batches, disable=not progress, desc=f"epoch {self.epoch + 1}/{self.epochs}", unit="batch",
                       leave=False, dynamic_ncols=True)
            fewest_threads = torch.get_num_threads()
            for indices in bar:
                with self._thread_setting():
                    fewest_threads = min(fewest_threads, torch.get_num_threads())
                    batch_loss = self.train_step(indices)
                total += batch_loss
                bar.set_postfix(loss=f"{batch_loss / len(indices):.4g}")
            bar.close()
            train_loss = total / len(order)
            with self._thread_setting():
                val_loss = self.evaluate(self.val_set)
            self.epoch += 1
            epoch_time = time.perf_counter() - start_time
            self.elapsed += epoch_time
            self.history.append({"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                                 "val_loss": val_loss, "val_static_loss": self.val_static, "lr": lr,
                                 "epoch_time_s": epoch_time, "elapsed_s": self.elapsed,
                                 "torch_threads": fewest_threads})
            score = val_loss if len(self.val_set) else train_loss
            improved = score < self.best_loss
            if improved:
                self.best_loss, self.best_epoch = score, self.epoch
            if main:
                state = self.checkpoint()
                _save_torch(state, self.out / "last.pt")
                if improved:
                    _save_torch(state, self.out / "best.pt")
                _write_metrics(self.out / "metrics.csv", self.history)
                if progress:
                    scores = (f"val {val_loss:.5g}  (V=0: {self.val_static:.5g})" if len(self.val_set)
                              else "no validation set")
                    tqdm.write(f"epoch {self.epoch}: train {train_loss:.5g}  {scores}  lr {lr:.3g}  {epoch_time:.1f} s")
        model_path = None
        if self.epoch >= self.epochs and main:
            model_path = str(self.export())
        result = self.result(model_path)
        if main:
            _atomic_write_bytes(self.out / "summary.json", json.dumps(asdict(result), indent=1).encode())
        return result

    def result(self, model_path: str | None) -> TrainResult:
        last = self.history[-1]
        return TrainResult(str(self.out), model_path, str(self.out / "metrics.csv"), str(self.out / "last.pt"),
                           self.best_epoch, self.best_loss, float(last["train_loss"]), float(last["val_loss"]),
                           self.val_static, self.epoch, self.step, len(self.train_set), len(self.val_set),
                           self.scale, list(self.history))

    def export(self) -> Path:
        """Export the best model (TorchScript, ml.export) with training metadata."""
        from ddml_engine.ml.export import export_model

        best = self.out / "best.pt"
        model = GNNMobilityModel(**self.model.config()).to("cpu", self.dtype)
        state = load_checkpoint_file(best if best.is_file() else self.out / "last.pt", "cpu")
        model.load_state_dict(state["model"])
        s = self.data.settings
        last = self.history[-1]
        meta = {"material": s.material.name, "material_parameters": asdict(s.material),
                "force_model": {"name": s.force_model, "cutoff": s.cutoff, "grid": s.force_grid},
                "training": {"method": "Nye-field matching (Bertin, Bulatov & Zhou 2024, Eq. 5)",
                             "dt_s": self.train_set.mean_dt(), "k": list(self.train_set.lags),
                             "loss": self.loss,
                             "nye_grid": s.grid, "nye_spectral_grid": s.modes,
                             "nye_sigma_grid_spacings": s.sigma, "nye_sigma_b": s.sigma_b,
                             "nye_kernel": s.kernel, "train_trajectories": self.data.train_trajectories,
                             "val_trajectories": self.data.val_trajectories, "train_pairs": len(self.train_set),
                             "val_pairs": len(self.val_set), "epochs": self.epoch, "steps": self.step,
                             "best_epoch": self.best_epoch, "best_loss": self.best_loss,
                             "final_train_loss": float(last["train_loss"]), "final_val_loss": float(last["val_loss"]),
                             "val_static_loss": self.val_static,
                             "loss_normalization": self.config["train"]["loss_normalization"],
                             "loss_scale": self.scale, "world_size": self.world_size, "config": self.config}}
        return export_model(model, self.out / self.config["output"]["model_name"], _json_clean(meta))


# --------------------------------------------------------------------------------------------- entry points
def _backend(config: dict) -> str:
    backend = config["distributed"]["backend"]
    if backend == "auto":
        device = config["train"]["device"]
        gpu = torch.cuda.is_available() and device != "cpu"
        backend = "nccl" if gpu else "gloo"
    return backend


def _worker(rank: int, world_size: int, config: dict, port: int, until_epoch: int | None) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(_backend(config), rank=rank, world_size=world_size)
    try:
        data = prepare_data(config, build=False)
        Trainer(config, rank, world_size, data).run(until_epoch)
        dist.barrier()  # leave together: a rank tearing down gloo while rank 0 still writes files can abort it
    finally:
        dist.destroy_process_group()


def _read_result(out: Path) -> TrainResult:
    return TrainResult(**json.loads((out / "summary.json").read_text()))


def train(config: str | os.PathLike | Mapping[str, Any] | None = None, overrides: list[str] | None = None,
          world_size: int | None = None, until_epoch: int | None = None) -> TrainResult:
    """Train the GNN mobility (Eq. 5) from a TOML file or dict plus 'section.key=value' overrides.

    world_size (default: distributed.world_size) > 1 spawns that many data-parallel processes (gloo on CPU,
    nccl on GPU) after the caches are built here; `until_epoch` stops after that many completed epochs (as an
    interruption would: last.pt written, no export). Returns the TrainResult of rank 0.
    """
    cfg = load_train_config(config, overrides)
    world = int(world_size if world_size is not None else cfg["distributed"]["world_size"])
    data = prepare_data(cfg, build=True, progress=bool(cfg["output"]["progress"]))
    if world == 1:
        return Trainer(cfg, 0, 1, data).run(until_epoch)
    import torch.multiprocessing as mp

    port = int(cfg["distributed"]["master_port"]) or _free_port()
    mp.spawn(_worker, args=(world, cfg, port, until_epoch), nprocs=world, join=True)
    return _read_result(Path(cfg["output"]["dir"]))


def main(argv: list[str] | None = None) -> int:
    """`python -m ddml_engine.ml.trainer CONFIG [section.key=value ...]`, also under torchrun."""
    import argparse

    from ddml_engine.ml.train_config import HELP

    parser = argparse.ArgumentParser(prog="python -m ddml_engine.ml.trainer", epilog=HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Train the GNN mobility by Nye-field matching (Eq. 5).")
    parser.add_argument("config", help="training configuration (TOML)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    args = parser.parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and "RANK" in os.environ:  # launched by torchrun
        cfg = load_train_config(args.config, args.overrides)
        rank = int(os.environ["RANK"])
        dist.init_process_group(_backend(cfg))
        try:
            if rank == 0:
                prepare_data(cfg, build=True, progress=bool(cfg["output"]["progress"]))
            dist.barrier()
            Trainer(cfg, rank, world, prepare_data(cfg, build=False)).run()
        finally:
            dist.destroy_process_group()
        return 0
    result = train(args.config, args.overrides)
    print(json.dumps({k: v for k, v in asdict(result).items() if k != "history"}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
