"""GNN mobility law (Bertin, Bulatov & Zhou 2024, Eq. 4): V = M_theta(F^DDD, {N_j}, {E_jk}) from a model file.

`GNNMobility(path)` loads a file written by `ddml_engine.ml.export.export_model` (TorchScript, physical
inputs and outputs); it also accepts an in-memory GNNMobilityModel or an already loaded exported module.
Pinned nodes get zero velocity.

On the CPU, calls run by default through `ml.numpy_inference.NumpyGNN` (`engine="auto"`): the same weights and
function as the torch module, to float32 rounding, and faster at DDD sizes, where torch's per-operator overhead
dominates (2.1 against 3.3 ms per call on a 589-node network, benchmarks/RESULTS.md). `engine="torch"` keeps the TorchScript module.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ddml_engine.ml.export import PhysicalGNNMobility, load_model
from ddml_engine.ml.graph import raw_inputs
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.ml.numpy_inference import NumpyGNN, directed_edge_arrays, node_feature_array
from ddml_engine.network import PINNED_NODE, DislocationNetwork
from ddml_engine.parallel import serial_blas, sync_torch_threads, torch_threads_for


class GNNMobility:
    """Mobility protocol: velocities(network, forces (N,3) Pa*b^2) -> (N,3) float64 velocities in b/s."""

    def __init__(self, model: str | os.PathLike | nn.Module, device: str | torch.device = "cpu",
                 engine: str = "auto"):
        """`device` applies to a model file; a module given directly is used where it is (and not modified).
        `engine`: "auto" (numpy/numba inference on the CPU when the module has the GNNMobilityModel layout, else
        torch) or "torch"."""
        if engine not in ("auto", "torch"):
            raise ValueError(f"GNNMobility: engine must be 'auto' or 'torch', got {engine!r}")
        self.metadata: dict[str, Any] = {}
        self.path = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
        if isinstance(model, (str, os.PathLike)):
            module, self.metadata = load_model(model, map_location=device)
        elif isinstance(model, GNNMobilityModel):
            module = PhysicalGNNMobility(model)
        elif isinstance(model, nn.Module):  # PhysicalGNNMobility, scripted or not
            module = model
        else:
            raise TypeError(f"GNNMobility needs a model file path or a torch module, got {type(model).__name__}")
        self.module = module
        sync_torch_threads()  # the thread count of ddml's setting (parallel.configure_threads), if made
        reference = next(iter(module.buffers()), None)
        self.device = reference.device if reference is not None else torch.device(device)
        self.numpy_engine = _numpy_engine(module) if engine == "auto" and self.device.type == "cpu" else None
        if self.numpy_engine is not None:
            serial_blas()  # its small products on a spinning multithreaded BLAS would slow numba's kernels

    def __repr__(self) -> str:
        return f"GNNMobility({self.path or type(self.module).__name__})"

    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal velocities (N, 3) in b/s; zero at pinned nodes."""
        if network.num_nodes == 0:
            return np.zeros((0, 3))
        raw = raw_inputs(network, forces)
        if self.numpy_engine is not None:
            engine, force_scale, length_scale = self.numpy_engine
            edge_index, edges = directed_edge_arrays(raw["segments"], raw["burgers"], raw["segment_vectors"],
                                                     raw["segment_flags"], length_scale)
            out = engine(node_feature_array(raw["forces"], raw["node_flags"], force_scale), edge_index,
                         edges).astype(np.float64)
            out[network.constraints == PINNED_NODE] = 0.0
            return out
        t = {k: torch.as_tensor(v, device=self.device) for k, v in raw.items()}
        pinned = torch.as_tensor(network.constraints == PINNED_NODE, device=self.device)
        # Unoptimised TorchScript execution skips the profiling executor's warm-up runs (graph sizes change
        # every DDD step); the kernels are the same aten ops, so steady-state speed is unchanged.
        with torch.inference_mode(), torch.jit.optimized_execution(False), torch_threads_for(network.num_nodes):
            v = self.module(t["forces"], t["node_flags"], t["segments"], t["burgers"], t["segment_vectors"],
                            t["segment_flags"], pinned)
        out = v.detach().to("cpu", torch.float64).numpy().copy()
        out[network.constraints == PINNED_NODE] = 0.0
        return out


def _numpy_engine(module: nn.Module) -> tuple[NumpyGNN, float, float] | None:
    """(NumpyGNN, force_scale, length_scale) of an exported PhysicalGNNMobility module holding a float32
    GNNMobilityModel; None for any other module (then torch runs it)."""
    try:
        state = {k[len("model."):]: v.detach().cpu().numpy() for k, v in module.state_dict().items()
                 if k.startswith("model.")}
        if not state or any(v.dtype != np.float32 for v in state.values()):
            return None
        layers = len({k.split(".")[1] for k in state if k.startswith("processor.")})
        engine = NumpyGNN(state, layers, float(module.model.velocity_scale))
        return engine, float(module.force_scale), float(module.length_scale)
    except (AttributeError, KeyError, RuntimeError, ValueError):
        return None
