"""Run a ddml mobility (a trained GNN or a linear law) inside ExaDiS through pyexadis's Python-mobility protocol.

pyexadis (LLNL ExaDiS, python/pyexadis_base.py) accepts as `mobility=` of its `SimulateNetwork`, `TimeIntegration`
and `Topology` any object with

    Mobility(N, state) -> state
        N: a DisNetManager; N.export_data() gives the network (ddml_engine.io.exadis);
        state["nodeforces"] (N, 3) Pa*b^2 and state["nodeforcetags"] (N, 2) (domain, index) in any order;
        fills state["nodevels"] (N, 3) b/s and state["nodeveltags"] (N, 2).
    OneNodeMobility(N, state, tag, f, update_state=True) -> (3,) velocity of node `tag` under force f
        (topology trials: ExaDiS asks how a node would move on a trial network).
    non_linear: bool

`ExaDiSMobility(mobility)` is that object for any ddml `Mobility`. Units agree, so no conversion is made.
For a non-local mobility (the GNN sees the forces of its neighbours) OneNodeMobility evaluates the whole network
with node `tag`'s force replaced by f and the other nodes' forces taken from state by tag (zero for nodes the
state does not know, e.g. the new node of a trial split). ExaDiS accepts Python mobilities with its
`TopologySerial` topology only. Example: example_sessions/exadis_gnn_mobility.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ddml_engine.io.exadis import network_from_exadis, tags_from_exadis, tags_to_exadis
from ddml_engine.mobility.base import Mobility
from ddml_engine.network import DislocationNetwork


def _export(N: Any) -> DislocationNetwork:
    data = N.export_data() if hasattr(N, "export_data") else N.get_disnet().export_data()
    return network_from_exadis(data)


def forces_by_tag(network: DislocationNetwork, forces: np.ndarray, force_tags: np.ndarray,
                  missing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Forces (N, 3) in the network's node order from (K, 3) forces listed with (K, 2) ExaDiS tags.

    Returns the forces and a mask of the nodes found; nodes absent from the list get `missing`.
    """
    forces = np.asarray(forces, dtype=np.float64).reshape(-1, 3)
    keys = tags_from_exadis(force_tags)
    if len(keys) != len(forces):
        raise ValueError(f"ExaDiS state: {len(forces)} node forces but {len(keys)} force tags")
    out = np.full((network.num_nodes, 3), float(missing))
    if len(keys) == 0:
        return out, np.zeros(network.num_nodes, bool)
    order = np.argsort(keys, kind="stable")
    where = np.minimum(np.searchsorted(keys[order], network.tags), len(keys) - 1)
    found = keys[order][where] == network.tags
    out[found] = forces[order[where[found]]]
    return out, found


class ExaDiSMobility:
    """pyexadis Python mobility backed by a ddml mobility (module docstring)."""

    def __init__(self, mobility: Mobility, non_linear: bool = True):
        if not hasattr(mobility, "velocities"):
            raise TypeError(f"ExaDiSMobility needs a ddml mobility (with velocities()), got {type(mobility).__name__}")
        self.mobility = mobility
        self.non_linear = bool(non_linear)  # the GNN is non-linear in the forces; ExaDiS's subcycling reads this

    def __repr__(self) -> str:
        return f"ExaDiSMobility({self.mobility!r})"

    def _velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        v = np.asarray(self.mobility.velocities(network, forces), dtype=np.float64)
        if v.shape != (network.num_nodes, 3) or not np.all(np.isfinite(v)):
            raise ValueError(f"{self.mobility!r} returned velocities of shape {v.shape} for {network.num_nodes} "
                             "nodes" + ("" if v.shape != (network.num_nodes, 3) else " with non-finite values"))
        return v

    def Mobility(self, N: Any, state: dict) -> dict:  # noqa: N802 (pyexadis's name)
        """Velocities of every node of N under state["nodeforces"]; written to state["nodevels"/"nodeveltags"]."""
        network = _export(N)
        forces, found = forces_by_tag(network, state.get("nodeforces", np.zeros((0, 3))),
                                      state.get("nodeforcetags", np.zeros((0, 2), np.int64)))
        if not np.all(found):
            missing = tags_to_exadis(network.tags[~found][:5]).tolist()
            raise ValueError(f"ExaDiS state: no force for nodes {missing}" + (" ..." if (~found).sum() > 5 else ""))
        state["nodevels"] = self._velocities(network, forces)
        state["nodeveltags"] = tags_to_exadis(network.tags)
        return state

    def OneNodeMobility(self, N: Any, state: dict, tag, f, update_state: bool = True) -> np.ndarray:  # noqa: N802
        """Velocity (3,) b/s of node `tag` (domain, index) under force f (3,) Pa*b^2 (module docstring)."""
        network = _export(N)
        key = tags_from_exadis(np.asarray(tag, dtype=np.int64).reshape(1, 2))[0]
        row = np.flatnonzero(network.tags == key)
        if len(row) != 1:
            raise ValueError(f"ExaDiS: node tag ({int(tag[0])},{int(tag[1])}) not in the network")
        forces, _ = forces_by_tag(network, state.get("nodeforces", np.zeros((0, 3))),
                                  state.get("nodeforcetags", np.zeros((0, 2), np.int64)))
        forces[row[0]] = np.asarray(f, dtype=np.float64).reshape(3)
        v = self._velocities(network, forces)[row[0]].copy()
        if update_state:
            tags = np.asarray(state.get("nodeveltags", np.zeros((0, 2), np.int64)), np.int64).reshape(-1, 2)
            vels = np.asarray(state.get("nodevels", np.zeros((0, 3))), np.float64).reshape(-1, 3)
            hit = np.flatnonzero((tags[:, 0] == tag[0]) & (tags[:, 1] == tag[1]))
            if len(hit):
                vels = vels.copy()
                vels[hit[0]] = v
            else:
                vels = np.vstack([vels, v])
                tags = np.vstack([tags, np.asarray(tag, np.int64).reshape(1, 2)])
            state["nodevels"], state["nodeveltags"] = vels, tags
        return v
