"""ddml engine: dislocation networks, DDD forces, mobility laws and their learning.

Units everywhere inside the engine: lengths in Burgers-vector magnitudes b, stress in Pa, time in s,
velocity in b/s, nodal force in Pa*b^2, mobility in 1/(Pa*s). Voigt order [xx, yy, zz, yz, xz, xy].
"""
from ddml_engine.network import Cell, DislocationNetwork, NetworkError

__all__ = ["Cell", "DislocationNetwork", "NetworkError"]
__version__ = "0.1.0"
