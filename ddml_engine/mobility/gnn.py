"""GNN mobility law (Bertin, Bulatov & Zhou 2024, Eq. 4): V = M_theta(F^DDD, {N_j}, {E_jk}) from a model file.

`GNNMobility(path)` loads a file written by `ddml_engine.ml.export.export_model` (TorchScript, physical
inputs and outputs); it also accepts an in-memory GNNMobilityModel or an already loaded exported module.
Pinned nodes get zero velocity.

On the CPU, calls run by default through `ml.numpy_inference.NumpyGNN` (`engine="auto"`): the same weights and
function as the torch module, to float32 rounding, one numba call on numba's threads instead of ~100 torch operator
dispatches (see benchmarks/RESULTS.md for the measured call times). The inputs fixed by the connectivity alone
(graph, CSR edge order, node and segment flags, Burgers vector features) are kept between calls while the
segments, Burgers vectors and constraints stay the same, as over the sub-steps of a DDD step; only forces and
segment vectors are recomputed. Whether a call runs on numba's threads or on one is decided from the measured
calls (`parallel.MeasuredThreads`: the second core helps on a quiet machine and costs many times over next to a
busy one). `engine="torch"` keeps the TorchScript module.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ddml_engine.ml.export import PhysicalGNNMobility, load_model
from ddml_engine.ml.graph import raw_inputs, segment_flags
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.ml.numpy_inference import MIN_CHUNK_ROWS, NumpyGNN, directed_edge_arrays, edges_by_source
from ddml_engine.mobility.base import check_forces
from ddml_engine.network import PINNED_NODE, DislocationNetwork
from ddml_engine.parallel import (MeasuredThreads, serial_blas, sync_torch_threads, threads_for,
                                  torch_threads_for)


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
        self._topology: _Topology | None = None
        self._threads = MeasuredThreads()
        if self.numpy_engine is not None:
            serial_blas()  # its small products on a spinning multithreaded BLAS would slow numba's kernels

    def __repr__(self) -> str:
        return f"GNNMobility({self.path or type(self.module).__name__})"

    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal velocities (N, 3) in b/s; zero at pinned nodes."""
        if network.num_nodes == 0:
            return np.zeros((0, 3))
        if self.numpy_engine is not None:
            engine, force_scale, length_scale = self.numpy_engine
            if self._topology is None or not self._topology.matches(network):
                self._topology = _Topology(network, length_scale)
            topology = self._topology
            nodes = topology.node_features(check_forces(network, forces), force_scale)
            edges = topology.edge_features(network.segment_vectors(), length_scale)

            def call():
                return engine(nodes, topology.edge_index, edges, edges_by_source=topology.edges_by_source)

            if len(nodes) < 2 * MIN_CHUNK_ROWS:  # one chunk: serial, and not timed (split-trial patches)
                with threads_for(0):
                    out = call()
            else:
                out = self._threads.run(call, work=len(nodes) + len(edges))
            out = out.astype(np.float64)
            out[topology.pinned] = 0.0
            return out
        raw = raw_inputs(network, forces)
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


class _Topology:
    """The GNN inputs that the connectivity alone fixes, float32: node flags, edge index, its CSR order, and the
    edge columns (e_ij, b_ij, |b_ij|) (see ml.graph); `node_features` and `edge_features` fill in the rest."""

    def __init__(self, network: DislocationNetwork, length_scale: float):
        self.segments, self.burgers = network.segments.copy(), network.burgers.copy()
        self.constraints = network.constraints.copy()
        self.pinned = self.constraints == PINNED_NODE
        m = network.num_segments
        # the segment vectors' columns are placeholders here (zeros), filled per call
        self.edge_index, self._edges = directed_edge_arrays(self.segments, self.burgers, np.zeros((m, 3)),
                                                            segment_flags(network), length_scale)
        self.edges_by_source = edges_by_source(self.edge_index[0], network.num_nodes)
        self._nodes = np.zeros((network.num_nodes, 5), np.float32)
        self._nodes[:, 0] = network.physical_nodes()

    def matches(self, network: DislocationNetwork) -> bool:
        """Same segments, Burgers vectors and constraints as the network this was built from."""
        return (network.segments.shape == self.segments.shape and network.num_nodes == self.pinned.shape[0]
                and np.array_equal(network.segments, self.segments) and np.array_equal(network.burgers, self.burgers)
                and np.array_equal(network.constraints, self.constraints))

    def node_features(self, forces: np.ndarray, force_scale: float) -> np.ndarray:
        """(N, 5): (n_i, F_i / f0, |F_i| / f0), as `ml.graph.node_features`."""
        f = forces / force_scale
        self._nodes[:, 1:4] = f
        self._nodes[:, 4] = np.linalg.norm(f, axis=1)
        return self._nodes

    def edge_features(self, segment_vectors: np.ndarray, length_scale: float) -> np.ndarray:
        """(2M, 9): the kept columns and (r_j - r_i) / l0, |r_j - r_i| / l0 of both directions, as
        `ml.graph.directed_edges`."""
        m = segment_vectors.shape[0]
        d = segment_vectors / length_scale
        norm = np.linalg.norm(d, axis=1)
        self._edges[:m, 5:8], self._edges[m:, 5:8] = d, -d
        self._edges[:m, 8], self._edges[m:, 8] = norm, norm
        return self._edges
