"""ddml_engine.mobility: mobility laws V = M[F] behind one protocol, `velocities(network, forces) -> (N, 3)`.

BCCLinearMobility (Cai-Bulatov drag matrix, ExaDiS BCC_0B) and GlideMobility (isotropic, glide-constrained) are
imported here; the GNN mobility (`ddml_engine.mobility.gnn.GNNMobility`) is not, to keep torch out of this import.
"""
from ddml_engine.mobility.base import Mobility
from ddml_engine.mobility.bcc import BCCLinearMobility
from ddml_engine.mobility.glide import GlideMobility

__all__ = ["Mobility", "BCCLinearMobility", "GlideMobility"]
