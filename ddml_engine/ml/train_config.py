"""Training configuration (TOML) with defaults, for `ddml train` and `ddml_engine.ml.trainer.train`.

Same conventions as `ddml_engine.dynamics.config`: every key optional, unknown keys are errors naming the key,
'section.key=value' overrides parsed as TOML values.
"""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Mapping

from ddml_engine.dynamics.config import merge

DEFAULTS: dict[str, Any] = {
    "data": {"trajectories": [], "validation": [], "val_fraction": 0.2, "k": [1, 4, 16], "cache_dir": "",
             "interval_tolerance": 0.01, "cell_tolerance": 0.05, "preload_mb": 2048.0},
    "material": {"name": "", "mu": 0.0, "nu": 0.0, "core_radius": 0.0, "core_energy": 0.0},  # 0 = not set
    "forces": {"model": "", "cutoff": 150.0, "grid": 64},  # model "" = the one recorded in the trajectory
    "nye": {"grid": 32, "sigma": 2.0, "sigma_b": 0.0, "kernel": "gaussian", "spectral_grid": 0,
            "mode_tolerance": 1e-4},
    "model": {"latent": 48, "layers": 3, "hidden": 0, "encoder_norm": False, "velocity_scale": 1e11,
              "force_scale": 1e9, "length_scale": 1.0},
    "train": {"epochs": 100, "batch_size": 8, "lr": 1e-3, "weight_decay": 1e-5, "scheduler": "cosine",
              "lr_min_ratio": 0.01, "grad_clip": 0.0, "seed": 0, "dtype": "float32", "device": "auto",
              "loss": "relative", "relative_floor": 3e-3, "density_floor": 1e-2,
              "loss_normalization": "static", "augment": "cubic", "deterministic": False, "threads": 0},
    "output": {"dir": "runs/training", "model_name": "model.pt", "resume": False, "progress": True},
    "distributed": {"world_size": 1, "backend": "auto", "master_port": 0},
}

HELP = """\
Training configuration file (TOML) for the GNN mobility (Bertin, Bulatov & Zhou 2024, Eq. 5). Every key is
optional except data.trajectories; defaults in brackets. Override any key with 'section.key=value'.
  [data]        trajectories [[]]: HDF5 snapshot stores (ddml SnapshotStore, e.g. from `ddml simulate`);
                validation [[]]: stores used only for validation (if empty, val_fraction [0.2] of the
                trajectories, whole trajectories, chosen with train.seed; none when only one is given);
                k [[1, 4, 16]]: lags in frames, an int or a list: pairs (G^t, G^(t+k dt_snap)) for every k
                (several lags give slow lines displacements above the noise of remeshing); pairs across a
                restart or time gap (a snapshot interval off
                the trajectory's median by more than interval_tolerance [0.01], relative) or a cell change larger
                than cell_tolerance [0.05] (relative) are skipped; smaller cell changes (MD under load) are exact:
                G^t is mapped affinely onto the later cell before V dt is added; cache_dir [""]: caches go
                ("" = .ddml_cache next to each trajectory); preload_mb [2048]: keep cached Nye spectra in
                memory up to this size, read them from the cache files otherwise
  [material]    name [""] ("" = the material stored in the trajectory file; else a preset W, Ta, Cu);
                mu (Pa), nu, core_radius (b), core_energy (Pa) overrides [0 = not set]
  [forces]      model [""]: DDD force model for the input forces F^DDD ("line-tension", "elastic",
                "elastic-cutoff", "fft"), with each frame's recorded stress; "" = the model recorded in the
                trajectory (its cutoff and grid too; "elastic-cutoff" for stores that record none, e.g. MD);
                cutoff [150] b; grid [64] (used when model is given here)
  [nye]         grid [32]: n^3 grid of the Nye field; sigma [2.0]: Gaussian width in grid spacings
                (spacing = (cell volume / n^3)^(1/3)); sigma_b [0]: width in b (overrides sigma when > 0);
                kernel ["gaussian"] or "nonsingular"; spectral_grid [0 = auto]: keep the Fourier modes of an
                n_s^3 grid only (exact for those; the loss is still the sum over the n^3 grid), auto = smallest
                even n_s whose first dropped mode has Gaussian weight exp(-(sigma k)^2) <= mode_tolerance [1e-4]
                (n_s = n/2 for sigma = 2 spacings: 8x less Nye work and cache); spectral_grid = grid keeps all
  [model]       latent [48]; layers [3] (message-passing steps K); hidden [0 = latent]; encoder_norm [false];
                velocity_scale [1e11] b/s; force_scale [1e9] Pa*b^2; length_scale [1] b
  [train]       epochs [100]; batch_size [8] snapshot pairs per global batch (split over ranks); lr [1e-3];
                weight_decay [1e-5] (AdamW); scheduler ["cosine"] (per step, to lr*lr_min_ratio [0.01]) or "none";
                grad_clip [0 = off] (global norm); seed [0]; dtype ["float32"] or "float64"; device ["auto"]
                ("cuda" when available, else "cpu"), "cpu", "cuda"; loss ["relative"]: the displacement-weighted
                relative Nye loss log2(1 + sum w R^2 / sum w R0^2) of ml.losses (every pair scores 1 at V = 0;
                slow and fast lines weigh by their relative error), with relative_floor [3e-3] (eps / ubar) and
                density_floor [1e-2] (delta / mean line density), or "absolute" (the paper's Eq. 5);
                loss_normalization ["static"] (absolute loss only): loss divided by
                the mean zero-velocity loss of the training pairs (a V = 0 model scores 1), "target" (by the mean
                sum alpha_target^2) or "none"; deterministic [false]: torch deterministic algorithms and a fixed
                torch thread count (bit-reproducible runs; otherwise torch's threads drop to the cores other
                processes leave free, parallel.LoadAwareThreads);
                threads [0 = $DDML_THREADS, else the available cores, shared among data-parallel processes]
                (numba and torch); augment ["cubic"]: train on every pair rotated
                (cell included) by a random proper cube rotation, drawn afresh each epoch (exact for cubic
                crystals: the law is invariant under the cube's rotations), or "none"
  [output]      dir ["runs/training"]: last.pt, best.pt, metrics.csv, summary.json, the exported model;
                model_name ["model.pt"]; resume [false]: continue from dir/last.pt (exactly); progress [true]
  [distributed] world_size [1]: data-parallel processes spawned by `ddml train` (under torchrun the launcher's
                WORLD_SIZE is used); backend ["auto"]: "nccl" on GPU, "gloo" on CPU; master_port [0 = a free port] for spawned
                processes
"""


#: Numeric keys: (type, lower bound, bound excluded, upper bound or None).
NUMBERS: dict[str, tuple[type, float, bool, float | None]] = {
    "data.val_fraction": (float, 0.0, False, 0.999999), "data.interval_tolerance": (float, 0.0, False, None),
    "data.cell_tolerance": (float, 0.0, False, None), "data.preload_mb": (float, 0.0, False, None),
    "material.mu": (float, 0.0, False, None), "material.nu": (float, 0.0, False, 0.499999),
    "material.core_radius": (float, 0.0, False, None), "material.core_energy": (float, 0.0, False, None),
    "forces.cutoff": (float, 0.0, True, None), "forces.grid": (int, 4, False, 1024),
    "nye.grid": (int, 4, False, 1024), "nye.sigma": (float, 0.0, False, None), "nye.sigma_b": (float, 0.0, False, None),
    "nye.spectral_grid": (int, 0, False, 1024), "nye.mode_tolerance": (float, 0.0, True, 1.0),
    "model.latent": (int, 1, False, 100_000), "model.layers": (int, 1, False, 1000),
    "model.hidden": (int, 0, False, 100_000),
    "model.velocity_scale": (float, 0.0, True, None), "model.force_scale": (float, 0.0, True, None),
    "model.length_scale": (float, 0.0, True, None),
    "train.epochs": (int, 1, False, 10**7), "train.batch_size": (int, 1, False, 10**6),
    "train.lr": (float, 0.0, True, None),
    "train.weight_decay": (float, 0.0, False, None), "train.lr_min_ratio": (float, 0.0, True, 1.0),
    "train.grad_clip": (float, 0.0, False, None), "train.seed": (int, 0, False, 2**63 - 1),
    "train.relative_floor": (float, 0.0, True, None), "train.density_floor": (float, 0.0, True, None),
    "train.threads": (int, 0, False, 4096), "distributed.world_size": (int, 1, False, 4096),
    "distributed.master_port": (int, 0, False, 65535),
}


def load_train_config(source: str | Path | Mapping[str, Any] | None = None,
                      overrides: list[str] | None = None) -> dict[str, Any]:
    """Defaults merged with a TOML file (path) or a dict, then with 'section.key=value' overrides."""
    config = copy.deepcopy(DEFAULTS)
    where = ""
    if isinstance(source, Mapping):
        try:
            config = merge(config, dict(source))
        except KeyError as error:
            raise ValueError(f"training configuration: {error.args[0]}") from None
    elif source:
        where = f"{source}: "
        try:
            with open(source, "rb") as handle:
                config = merge(config, tomllib.load(handle))
        except FileNotFoundError:
            raise FileNotFoundError(f"training configuration file not found: {source}") from None
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{source}: {error}") from None
        except KeyError as error:
            raise ValueError(f"{source}: {error.args[0]}") from None
        base = Path(source).resolve().parent  # relative data paths are relative to the configuration file
        for key in ("trajectories", "validation"):
            config["data"][key] = [str(base / p) if not Path(p).is_absolute() else str(p)
                                   for p in config["data"][key]]
    for item in overrides or []:
        key, sep, value = item.partition("=")
        section, _, name = key.strip().partition(".")
        if not sep or not name:
            raise ValueError(f"override '{item}' must look like section.key=value")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        try:
            config = merge(config, {section: {name: parsed}})
        except KeyError as error:
            raise ValueError(f"override '{item}': {error.args[0]}") from None
    validate(config, where)
    return config


def validate(config: dict[str, Any], where: str = "") -> None:
    """Raise ValueError naming the key for values out of range."""
    def fail(key: str, message: str) -> None:
        raise ValueError(f"{where}training configuration key '{key}': {message}")

    import math

    for key, (kind, low, strict, high) in NUMBERS.items():
        section, name = key.split(".")
        value = config[section][name]
        wrong_type = kind is int and not isinstance(value, int)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or wrong_type:
            fail(key, f"must be {'a whole number' if kind is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            fail(key, f"must be finite, got {value!r}")
        if (value <= low) if strict else (value < low):
            fail(key, f"must be {'>' if strict else '>='} {low:g}, got {value!r}")
        if high is not None and value > high:
            fail(key, f"must be <= {high:g}, got {value!r}")
    for key in ("train.deterministic", "output.resume", "output.progress", "model.encoder_norm"):
        section, name = key.split(".")
        if not isinstance(config[section][name], bool):
            fail(key, f"must be true or false, got {config[section][name]!r}")
    for key in ("train.loss", "train.dtype", "train.scheduler", "train.loss_normalization", "train.augment",
                "train.device", "nye.kernel", "forces.model", "material.name", "output.dir", "output.model_name",
                "data.cache_dir", "distributed.backend"):
        section, name = key.split(".")
        if not isinstance(config[section][name], str):
            fail(key, f"must be a string, got {config[section][name]!r}")
    data, train, nye = config["data"], config["train"], config["nye"]
    for key in ("trajectories", "validation"):
        if isinstance(data[key], str):
            data[key] = [data[key]]
        if not isinstance(data[key], list):
            fail(f"data.{key}", "must be a list of file paths")
    lags = data["k"] if isinstance(data["k"], list) else [data["k"]]
    if not lags or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in lags):
        fail("data.k", f"must be an integer >= 1 or a non-empty list of them, got {data['k']!r}")
    if train["loss"] not in ("relative", "absolute"):
        fail("train.loss", f"must be 'relative' or 'absolute', got {train['loss']!r}")
    for key in ("relative_floor", "density_floor"):
        if not float(train[key]) > 0:
            fail(f"train.{key}", f"must be positive, got {train[key]}")
    if config["forces"]["model"] not in ("", "line-tension", "elastic", "elastic-cutoff", "fft"):
        fail("forces.model", f"must be '', 'line-tension', 'elastic', 'elastic-cutoff' or 'fft', "
                             f"got {config['forces']['model']!r}")
    if not 0.0 <= float(data["val_fraction"]) < 1.0:
        fail("data.val_fraction", f"must be in [0, 1), got {data['val_fraction']}")
    if int(nye["grid"]) < 4:
        fail("nye.grid", f"must be >= 4, got {nye['grid']}")
    name = str(config["output"]["model_name"])
    if not name or "/" in name or "\\" in name or name in (".", "..") or not name.endswith(".pt") or \
            name in ("last.pt", "best.pt"):
        fail("output.model_name", f"must be a plain file name ending in .pt inside output.dir (not last.pt or "
                                  f"best.pt, the checkpoints), got {name!r}")
    if float(nye["sigma"]) <= 0 and float(nye["sigma_b"]) <= 0:
        fail("nye.sigma", "sigma (grid spacings) or sigma_b (b) must be positive")
    if int(train["epochs"]) < 1:
        fail("train.epochs", f"must be >= 1, got {train['epochs']}")
    if int(train["batch_size"]) < 1:
        fail("train.batch_size", f"must be >= 1, got {train['batch_size']}")
    if float(train["lr"]) <= 0:
        fail("train.lr", f"must be positive, got {train['lr']}")
    if train["dtype"] not in ("float32", "float64"):
        fail("train.dtype", f"must be 'float32' or 'float64', got {train['dtype']!r}")
    if train["scheduler"] not in ("cosine", "none"):
        fail("train.scheduler", f"must be 'cosine' or 'none', got {train['scheduler']!r}")
    if train["loss_normalization"] not in ("static", "target", "none"):
        fail("train.loss_normalization", f"must be 'static', 'target' or 'none', got {train['loss_normalization']!r}")
    if train["augment"] not in ("cubic", "none"):
        fail("train.augment", f"must be 'cubic' or 'none', got {train['augment']!r}")
    if train["device"] not in ("auto", "cpu", "cuda") and not str(train["device"]).startswith("cuda:"):
        fail("train.device", f"must be 'auto', 'cpu' or 'cuda[:i]', got {train['device']!r}")
    if int(config["distributed"]["world_size"]) < 1:
        fail("distributed.world_size", f"must be >= 1, got {config['distributed']['world_size']}")
    if config["distributed"]["backend"] not in ("auto", "gloo", "nccl"):
        fail("distributed.backend", f"must be 'auto', 'gloo' or 'nccl', got {config['distributed']['backend']!r}")
