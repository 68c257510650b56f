"""HDF5 store of network snapshots (trajectories of DDD or DXA), appendable frame by frame (h5py).

Layout (format 'ddml-snapshots', version 1):

    /                      attrs: format, version, units (JSON), material (name), burgers_m, material_json
    /frames/00000000/      one group per frame, attrs: time, complete (set last), has_stress
        positions (N,3) segments (M,2) burgers (M,3) planes (M,3) constraints (N,) tags (N,)
        cell_matrix (3,3) cell_origin (3,) cell_periodic (3,) stress (6,) [Voigt xx yy zz yz xz xy, Pa]
        extra/             arrays given to append() as datasets, scalars as attrs

Frames are written in full, flushed, and only then marked `complete`; a frame left incomplete by an
interrupted append is ignored when reading and removed when the file is reopened for appending, so
earlier frames survive. Reading a frame touches only that frame's group.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import h5py
import numpy as np

from ddml_engine.network import Cell, DislocationNetwork

FORMAT = "ddml-snapshots"
VERSION = 1
UNITS = {"length": "b", "time": "s", "stress": "Pa", "velocity": "b/s", "force": "Pa*b^2"}
_ARRAYS = ("positions", "segments", "burgers", "planes", "constraints", "tags")


@dataclass
class Frame:
    """One stored snapshot: network, time (s), stress (6,) Voigt in Pa or None, extra arrays/scalars."""

    index: int
    network: DislocationNetwork
    time: float
    stress: np.ndarray | None
    extra: dict[str, Any] = field(default_factory=dict)


class SnapshotStore:
    """Frames of a trajectory in one HDF5 file. Modes: 'r' read, 'a' create or append, 'w' overwrite.

    Metadata (material, extra `metadata` dict) are written when the file is created and readable as
    `store.metadata`. Use as a context manager or call close().
    """

    def __init__(self, path: str | os.PathLike, mode: str = "r", material=None,
                 metadata: dict[str, Any] | None = None, compression: str | None = None) -> None:
        if mode not in ("r", "a", "w"):
            raise ValueError(f"mode must be 'r', 'a' or 'w', got '{mode}'")
        self.path = os.fspath(path)
        self.mode = mode
        self.compression = compression
        if mode == "r" and not os.path.exists(self.path):
            raise FileNotFoundError(self.path)
        self._file = h5py.File(self.path, "r" if mode == "r" else ("w" if mode == "w" else "a"))
        fresh = mode == "w" or (mode == "a" and not self._file.keys() and not self._file.attrs.keys())
        if fresh:
            self._initialise(material, metadata)
        elif self._file.attrs.get("format") != FORMAT or "frames" not in self._file:
            found = self._file.attrs.get("format")
            self._file.close()
            from ddml_engine.io.errors import FileFormatError

            raise FileFormatError(self.path, None, f"not a ddml snapshot store (format attribute {found!r})")
        try:
            self._index_frames(mode)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:  # a damaged file's structure
            self._file.close()
            from ddml_engine.io.errors import FileFormatError

            if isinstance(error, FileFormatError):
                raise
            raise FileFormatError(self.path, None, f"damaged snapshot store ({' '.join(str(error).split())}); "
                                                   "restore it from a copy or regenerate it") from None

    def _index_frames(self, mode: str) -> None:
        """The complete frames (contiguous names) and their times; incomplete ones are dropped in mode 'a'."""
        self._frames = self._file["frames"]
        names = sorted(self._frames.keys())
        complete = [name for name in names if self._frames[name].attrs.get("complete", False)]
        if mode == "a":
            for name in names:
                if name not in complete:
                    del self._frames[name]  # left by an interrupted append
            self._file.flush()
        for k, name in enumerate(complete):
            if name != f"{k:08d}":
                raise ValueError(f"frame groups are not contiguous (found {name} at position {k})")
        self._times = [float(self._frames[name].attrs["time"]) for name in complete]

    def _initialise(self, material, metadata) -> None:
        f = self._file
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["units"] = json.dumps(UNITS)
        if material is not None:
            f.attrs["material"] = material.name
            f.attrs["burgers_m"] = float(material.burgers_m)
            f.attrs["material_json"] = json.dumps(asdict(material))
        f.attrs["metadata_json"] = json.dumps(metadata or {})
        f.require_group("frames")
        f.flush()

    # ----------------------------------------------------------------- metadata
    @property
    def version(self) -> int:
        return int(self._file.attrs["version"])

    @property
    def units(self) -> dict[str, str]:
        return json.loads(self._file.attrs["units"])

    @property
    def material_name(self) -> str | None:
        value = self._file.attrs.get("material")
        return None if value is None else str(value)

    @property
    def burgers_m(self) -> float | None:
        value = self._file.attrs.get("burgers_m")
        return None if value is None else float(value)

    @property
    def material(self):
        """The stored Material (dataclass), or None."""
        text = self._file.attrs.get("material_json")
        if text is None:
            return None
        from ddml_engine.materials import Material

        return Material(**json.loads(text))

    @property
    def metadata(self) -> dict[str, Any]:
        return json.loads(self._file.attrs.get("metadata_json", "{}"))

    @property
    def force_model(self):
        """The force model that produced the trajectory (forces.model.ForceModelSpec), or None when the store does
        not record one (e.g. MD ground truth). Read from metadata 'force_model', or from the [forces] section of
        the configuration that `ddml simulate` stores."""
        from ddml_engine.forces.model import ForceModelSpec

        meta = self.metadata
        spec = meta.get("force_model")
        if spec is None and "config" in meta:
            try:
                spec = json.loads(meta["config"]).get("forces")
                spec = None if spec is None else {"name": spec["model"], "cutoff": spec.get("cutoff"),
                                                  "grid": spec.get("grid")}
            except (ValueError, TypeError, KeyError, AttributeError):
                spec = None
        return None if spec is None else ForceModelSpec.from_dict(spec)

    @property
    def times(self) -> np.ndarray:
        return np.array(self._times)

    def __len__(self) -> int:
        return len(self._times)

    # ----------------------------------------------------------------- writing
    def append(self, network: DislocationNetwork, time: float, stress_voigt: np.ndarray | None = None,
               **extra: Any) -> int:
        """Store one frame; extra keyword values: arrays (datasets) or scalars (attributes). Returns its index."""
        if self.mode == "r":
            raise ValueError(f"{self.path} is open read-only")
        index = len(self._times)
        name = f"{index:08d}"
        if name in self._frames:  # an incomplete frame of this session (failed append)
            del self._frames[name]
        group = self._frames.create_group(name)
        try:
            group.attrs["time"] = float(time)
            for key in _ARRAYS:
                value = getattr(network, key)
                _dataset(group, key, value, self.compression if value.size > 1024 else None)
            _dataset(group, "cell_matrix", network.cell.matrix)
            _dataset(group, "cell_origin", network.cell.origin)
            _dataset(group, "cell_periodic", np.array(network.cell.periodic, dtype=bool))
            group.attrs["has_stress"] = stress_voigt is not None
            if stress_voigt is not None:
                stress = np.asarray(stress_voigt, dtype=np.float64).reshape(-1)
                if stress.shape != (6,):
                    raise ValueError(f"stress_voigt must have 6 components (Voigt), got shape {stress.shape}")
                _dataset(group, "stress", stress)
            extras = group.create_group("extra")
            for key, value in extra.items():
                if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
                    extras.attrs[key] = value
                elif value is None:
                    continue
                else:
                    _dataset(extras, key, np.asarray(value))
            self._file.flush()
            group.attrs["complete"] = True
            self._file.flush()
        except BaseException:
            del self._frames[name]
            self._file.flush()
            raise
        self._times.append(float(time))
        return index

    # ----------------------------------------------------------------- reading
    def read(self, index: int) -> Frame:
        """Frame `index` (negative counts from the end); reads only that frame."""
        n = len(self._times)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range: {self.path} holds {n} frames")
        index %= n
        try:
            group = self._frames[f"{index:08d}"]
        except (KeyError, RuntimeError, OSError) as error:
            raise OSError(f"{self.path}: frame {index} is corrupted ({error}); restore the file from a copy or "
                          "regenerate it") from None
        _refuse_foreign_storage(self.path, group)
        try:
            cell = Cell(group["cell_matrix"][()], group["cell_origin"][()],
                        tuple(bool(p) for p in group["cell_periodic"][()]))
            arrays = {key: group[key][()] for key in _ARRAYS}
            stress = group["stress"][()] if group.attrs.get("has_stress", False) else None
            extra: dict[str, Any] = {}
            if "extra" in group:
                extras = group["extra"]
                extra.update({key: _python_scalar(value) for key, value in extras.attrs.items()})
                extra.update({key: extras[key][()] for key in extras.keys()})
        except (OSError, RuntimeError, KeyError) as error:  # HDF5 filter failure (Fletcher-32 checksum mismatch),
            raise OSError(f"{self.path}: frame {index} is corrupted (checksum or read failure: {error}); restore "
                          "the file from a copy or regenerate it") from None
        network = DislocationNetwork(cell, **arrays)
        return Frame(index, network, float(group.attrs["time"]), stress, extra)

    def __getitem__(self, index: int) -> Frame:
        return self.read(index)

    def __iter__(self) -> Iterator[Frame]:
        for k in range(len(self)):
            yield self.read(k)

    # ----------------------------------------------------------------- lifetime
    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> "SnapshotStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SnapshotStore({self.path!r}, mode={self.mode!r}, frames={len(self)})"


def _refuse_foreign_storage(path, group) -> None:
    """Refuse links to other files and datasets stored outside this file (HDF5 external links, soft links,
    external storage): a store's bytes come from the store only."""
    from ddml_engine.io.errors import FileFormatError

    for holder in (group, group.get("extra")):
        if holder is None:
            continue
        for key in holder.keys():
            link = holder.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise FileFormatError(path, None, f"{holder.name}/{key} is a {type(link).__name__} to data outside "
                                                  "the store; refused")
            item = holder[key]
            if isinstance(item, h5py.Dataset) and item.external:
                raise FileFormatError(path, None, f"{holder.name}/{key} keeps its data in external files "
                                                  f"{[e[0] for e in item.external]}; refused")


def _dataset(group, key: str, data: np.ndarray, compression: str | None = None):
    """A dataset with a Fletcher-32 checksum (a flipped bit becomes a read error, not a number); optional
    compression. Empty and 0-d arrays cannot be chunked and are stored plainly."""
    data = np.asarray(data)
    if data.size == 0 or data.ndim == 0 or data.dtype.kind in "OSU":
        return group.create_dataset(key, data=data)
    return group.create_dataset(key, data=data, fletcher32=True, **({"compression": compression} if compression
                                                                     else {}))


def _python_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
