"""ddml_engine.io: network file formats (ParaDiS .data, OVITO .ca), VTK output, HDF5 snapshot stores."""
from __future__ import annotations

import os

from ddml_engine.io.errors import FileFormatError
from ddml_engine.network import DislocationNetwork

__all__ = ["FileFormatError", "read_network"]


def read_network(path: str | os.PathLike, **options) -> DislocationNetwork:
    """Read a network file chosen by extension: `.data` ParaDiS (units of b), `.ca` OVITO DXA (Å -> b).

    Options are passed to the reader (e.g. `burgers_magnitude_angstrom=` for `.ca`).
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".data":
        from ddml_engine.io.paradis import read_paradis

        return read_paradis(path, **options)
    if ext == ".ca":
        from ddml_engine.io.ca import read_ca

        return read_ca(path, **options)
    raise FileFormatError(path, None, f"unknown network file extension '{ext}' (expected .data or .ca)")
