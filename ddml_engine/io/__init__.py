"""ddml_engine.io: network file formats (ParaDiS .data, OVITO .ca), VTK output, HDF5 snapshot stores."""
from __future__ import annotations

import os

from ddml_engine.io.errors import FileFormatError
from ddml_engine.network import DislocationNetwork

__all__ = ["FileFormatError", "read_network", "recorded_material"]
TRAJECTORY_EXTENSIONS = (".h5", ".hdf5")


def read_network(path: str | os.PathLike, frame: int = -1, **options) -> DislocationNetwork:
    """Read a network file chosen by extension: `.data` ParaDiS (units of b), `.ca` OVITO DXA (Å -> b), or frame
    `frame` (default the last) of a ddml trajectory `.h5`.

    Options are passed to the reader (e.g. `burgers_magnitude_angstrom=` for `.ca`).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):  # a directory, FIFO or device: refuse, never hang
        raise FileFormatError(path, None, "not a regular file (a directory, pipe or device)")
    ext = os.path.splitext(path)[1].lower()
    if ext in TRAJECTORY_EXTENSIONS:
        from ddml_engine.io.store import SnapshotStore

        try:
            with SnapshotStore(path, "r") as store:
                if len(store) == 0:
                    raise FileFormatError(path, None, "the trajectory holds no complete frame")
                return store.read(frame).network
        except FileFormatError:
            raise
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as error:  # h5py on a damaged file
            text = " ".join(str(error).split()).replace(f"{path}: ", "")
            raise FileFormatError(path, None, f"not a readable ddml trajectory ({text})") from None
        except IndexError as error:
            raise FileFormatError(path, None, str(error)) from None
    if ext == ".data":
        from ddml_engine.io.paradis import read_paradis

        return read_paradis(path, **options)
    if ext == ".ca":
        from ddml_engine.io.ca import read_ca

        return read_ca(path, **options)
    raise FileFormatError(path, None, f"unknown network file extension '{ext}' (expected .data, .ca or .h5)")


def recorded_material(path: str | os.PathLike):
    """The Material a network file records (ddml trajectories do), or None (ParaDiS .data and OVITO .ca files
    hold no elastic constants)."""
    if os.path.splitext(os.fspath(path))[1].lower() not in TRAJECTORY_EXTENSIONS:
        return None
    from ddml_engine.io.store import SnapshotStore

    try:
        with SnapshotStore(path, "r") as store:
            return store.material
    except (OSError, KeyError):
        return None
