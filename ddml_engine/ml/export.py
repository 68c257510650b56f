"""Deployable GNN mobility file: a TorchScript module taking physical inputs, plus JSON metadata.

The exported module (`PhysicalGNNMobility`, scripted) contains the trained GNNMobilityModel together with the
feature construction of `ml.graph` (force and length scaling, both edge directions) and the velocity scale:

    V = module(forces, node_flags, segments, burgers, segment_vectors, segment_flags, pinned=None)

    forces          (N, 3) nodal DDD forces, Pa*b^2
    node_flags      (N,)   1 for physical (junction/end/pinned) nodes, 0 for discretization nodes
    segments        (M, 2) int64 node indices i, j of each segment i->j (one entry per segment)
    burgers         (M, 3) Burgers vector of i->j, units of b
    segment_vectors (M, 3) minimum-image r_j - r_i, units of b
    segment_flags   (M,)   0 glissile 1/2<111>, 1 junction/other
    pinned          (N,)   optional bool; those nodes get zero velocity
    -> V            (N, 3) velocities in b/s

The file loads with plain `torch.jit.load` (no ddml needed); metadata is stored as the extra file
`metadata.json` (material, units, model configuration, training information).
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from torch import nn

from ddml_engine.io._atomic import atomic_path
from ddml_engine.ml.graph import EDGE_FEATURES, NODE_FEATURES, directed_edges, node_features
from ddml_engine.ml.model import GNNMobilityModel

METADATA_FILE = "metadata.json"
FORMAT = "ddml-gnn-mobility"
FORMAT_VERSION = 1


class PhysicalGNNMobility(nn.Module):
    """Wrapper mapping physical inputs (Pa*b^2, b) to velocities (b/s) through a GNNMobilityModel."""

    def __init__(self, model: GNNMobilityModel):
        super().__init__()
        self.model = model
        self.force_scale = float(model.force_scale)
        self.length_scale = float(model.length_scale)
        reference = next(model.parameters())
        self.register_buffer("dtype_reference", torch.zeros(0, dtype=reference.dtype, device=reference.device))

    def forward(self, forces: torch.Tensor, node_flags: torch.Tensor, segments: torch.Tensor,
                burgers: torch.Tensor, segment_vectors: torch.Tensor, segment_flags: torch.Tensor,
                pinned: Optional[torch.Tensor] = None) -> torch.Tensor:
        n = forces.shape[0]
        m = segments.shape[0]
        if forces.dim() != 2 or forces.shape[1] != 3 or node_flags.shape[0] != n:
            raise ValueError("GNN mobility: forces must be (N, 3) and node_flags (N,)")
        if segments.dim() != 2 or segments.shape[1] != 2:
            raise ValueError("GNN mobility: segments must be (M, 2)")
        if burgers.shape[0] != m or segment_vectors.shape[0] != m or segment_flags.shape[0] != m:
            raise ValueError("GNN mobility: burgers, segment_vectors and segment_flags need one row per segment")
        if m > 0 and (int(segments.min()) < 0 or int(segments.max()) >= n):
            raise ValueError("GNN mobility: segments refer to nodes outside 0..N-1")
        dtype = self.dtype_reference.dtype
        nodes = node_features(forces.to(dtype), node_flags.to(dtype), self.force_scale)
        edge_index, edges = directed_edges(segments, burgers.to(dtype), segment_vectors.to(dtype),
                                           segment_flags.to(dtype), self.length_scale)
        v = self.model(nodes, edge_index, edges)
        if pinned is not None:
            v = torch.where(pinned.to(torch.bool).reshape(-1, 1), torch.zeros_like(v), v)
        return v


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """Silence torch.jit's DeprecationWarning (torch 2.13); TorchScript is still the format that loads without ddml."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        yield


def _metadata(model: GNNMobilityModel, metadata: dict[str, Any] | None) -> dict[str, Any]:
    reference = next(model.parameters())
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": "GNNMobilityModel (Bertin, Bulatov & Zhou 2024, Eq. 4)",
        "model_config": model.config(),
        "num_parameters": model.num_parameters(),
        "dtype": str(reference.dtype).replace("torch.", ""),
        "torch_version": torch.__version__,
        "units": {"forces": "Pa*b^2", "lengths": "b", "velocity": "b/s"},
        "inputs": ["forces (N,3) Pa*b^2", "node_flags (N,) 1 physical / 0 discretization",
                   "segments (M,2) int64 i->j", "burgers (M,3) b", "segment_vectors (M,3) b, r_j - r_i",
                   "segment_flags (M,) 0 glissile 1/2<111> / 1 junction or other", "pinned (N,) bool, optional"],
        "node_features": NODE_FEATURES,
        "edge_features": EDGE_FEATURES,
    }
    for key, value in (metadata or {}).items():
        if key in ("format", "format_version"):
            raise ValueError(f"metadata key '{key}' is reserved")
        meta[key] = value
    return meta


def export_model(model: GNNMobilityModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Script the model with its physical-input wrapper and write it (atomically) to `path` with metadata."""
    path = Path(path)
    meta = _metadata(model, metadata)
    try:
        text = json.dumps(meta, indent=1, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"export_model: metadata for {path} is not JSON-serialisable: {exc}") from exc
    was_training = model.training
    model.eval()
    try:
        with _quiet_jit():
            scripted = torch.jit.script(PhysicalGNNMobility(model))
    finally:
        model.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, _quiet_jit():
        torch.jit.save(scripted, tmp, _extra_files={METADATA_FILE: text})
    return path


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu"
               ) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """(scripted PhysicalGNNMobility module in eval mode, metadata dict) from a file written by export_model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GNN mobility model file not found: {path}")
    extra = {METADATA_FILE: ""}
    try:
        with _quiet_jit():
            module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a TorchScript model file ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not extra[METADATA_FILE]:
        raise ValueError(f"{path}: TorchScript file without {METADATA_FILE}; not written by ddml export_model")
    meta = json.loads(extra[METADATA_FILE])
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: metadata format is {meta.get('format')!r}, expected {FORMAT!r}")
    module.eval()
    return module, meta
