"""HDF5 snapshot store: exact round trips, appending across sessions, interrupted appends, metadata."""
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from ddml_engine.io.errors import FileFormatError
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material
from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

ROOT = Path(__file__).resolve().parents[1]


def random_network(rng, n) -> DislocationNetwork:
    cell = Cell(np.diag(rng.uniform(50, 100, 3)) + np.triu(rng.uniform(-5, 5, (3, 3)), 1),
                rng.normal(size=3), (True, bool(rng.integers(2)), True))
    seg = np.stack([np.arange(n), np.roll(np.arange(n), -1)], axis=1)  # one closed ring
    return DislocationNetwork(cell, rng.normal(size=(n, 3)) * 20, seg, rng.normal(size=(n, 3)),
                              rng.normal(size=(n, 3)), np.where(rng.random(n) < 0.2, PINNED_NODE, 0),
                              rng.permutation(1000)[:n])


def assert_same(a: DislocationNetwork, b: DislocationNetwork) -> None:
    assert a.cell == b.cell
    for key in ("positions", "segments", "burgers", "planes", "constraints", "tags"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


def test_round_trip_and_metadata(tmp_path):
    rng = np.random.default_rng(1)
    nets = [random_network(rng, n) for n in (5, 12, 3)]
    stresses = [rng.normal(size=6) * 1e8, None, rng.normal(size=6)]
    path = tmp_path / "t.h5"
    with SnapshotStore(path, "w", material=material("W"), metadata={"run": "test", "dt": 1e-12}) as store:
        for k, (net, s) in enumerate(zip(nets, stresses)):
            assert store.append(net, 1e-12 * k, s, step=k, strain=0.01 * k,
                                plastic_strain_tensor=np.full((3, 3), k, float)) == k
    with SnapshotStore(path) as store:
        assert len(store) == 3 and np.array_equal(store.times, [0.0, 1e-12, 2e-12])
        assert store.material_name == "W" and store.burgers_m == material("W").burgers_m
        assert store.material == material("W") and store.metadata == {"run": "test", "dt": 1e-12}
        assert store.units["length"] == "b" and store.version == 1
        for k, frame in enumerate(store):
            assert frame.index == k and frame.time == 1e-12 * k
            assert_same(frame.network, nets[k])
            assert (frame.stress is None) if stresses[k] is None else np.array_equal(frame.stress, stresses[k])
            assert frame.extra["step"] == k and frame.extra["strain"] == 0.01 * k
            assert np.array_equal(frame.extra["plastic_strain_tensor"], np.full((3, 3), k, float))
        assert store.read(-1).time == 2e-12
        with pytest.raises(IndexError, match="holds 3 frames"):
            store.read(3)
        with pytest.raises(ValueError, match="read-only"):
            store.append(nets[0], 1.0)


def test_append_across_sessions_keeps_earlier_frames(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "t.h5"
    first = [random_network(rng, 6) for _ in range(2)]
    with SnapshotStore(path, "a") as store:
        for k, net in enumerate(first):
            store.append(net, float(k))
    later = random_network(rng, 9)
    with SnapshotStore(path, "a") as store:
        assert len(store) == 2
        store.append(later, 2.0)
    with SnapshotStore(path) as store:
        assert len(store) == 3
        assert_same(store.read(0).network, first[0])
        assert_same(store.read(1).network, first[1])
        assert_same(store.read(2).network, later)
    with SnapshotStore(path, "w") as store:  # 'w' starts afresh
        assert len(store) == 0


def test_failed_append_leaves_store_consistent(tmp_path):
    rng = np.random.default_rng(3)
    net = random_network(rng, 4)
    with SnapshotStore(tmp_path / "t.h5", "a") as store:
        store.append(net, 0.0)
        with pytest.raises(ValueError, match="6 components"):
            store.append(net, 1.0, stress_voigt=np.zeros(5))
        assert len(store) == 1
        store.append(net, 2.0)
        assert np.array_equal(store.times, [0.0, 2.0])
        assert_same(store.read(1).network, net)


def test_killed_writer_loses_only_the_unfinished_frame(tmp_path):
    """A process dying in the middle of a frame: earlier flushed frames read back, the file appends again."""
    path = tmp_path / "k.h5"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from ddml_engine.io.store import SnapshotStore
        from ddml_engine.network import Cell, DislocationNetwork
        net = DislocationNetwork(Cell.cubic(10.0), np.eye(3), [[0, 1], [1, 2], [2, 0]], np.ones((3, 3)))
        store = SnapshotStore({str(path)!r}, "a")
        for k in range(3):
            store.append(net, float(k))
        group = store._frames.create_group("00000003")   # a frame half written ...
        group.create_dataset("positions", data=np.zeros((100, 3)))
        store._file.flush()
        os._exit(0)                                       # ... when the process dies
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with SnapshotStore(path) as store:
        assert len(store) == 3 and np.array_equal(store.times, [0.0, 1.0, 2.0])
    net = DislocationNetwork(Cell.cubic(10.0), np.eye(3), [[0, 1], [1, 2], [2, 0]], np.ones((3, 3)))
    with SnapshotStore(path, "a") as store:
        store.append(net, 3.0)
    with SnapshotStore(path) as store:
        assert np.array_equal(store.times, [0.0, 1.0, 2.0, 3.0])
        assert_same(store.read(3).network, net)


def test_reads_touch_only_one_frame(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    with SnapshotStore(tmp_path / "t.h5", "w") as store:
        for k in range(4):
            store.append(random_network(rng, 5), float(k))
    opened = []
    original = h5py.Group.__getitem__

    def spy(self, name):
        item = original(self, name)
        opened.append(item.name)
        return item

    with SnapshotStore(tmp_path / "t.h5") as store:
        monkeypatch.setattr(h5py.Group, "__getitem__", spy)
        store.read(2)
        monkeypatch.undo()
    frames = {name.split("/")[2] for name in opened if name.startswith("/frames/")}
    assert frames == {"00000002"}


def test_foreign_files_are_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    with pytest.raises(FileFormatError, match="not a ddml snapshot store"):
        SnapshotStore(path, "a")
    with pytest.raises(FileNotFoundError):
        SnapshotStore(tmp_path / "missing.h5")


@pytest.mark.parametrize("name", ["positions", "burgers", "stress"])
def test_a_flipped_bit_is_an_error_not_a_number(tmp_path, name):
    """Every array is stored with a Fletcher-32 checksum: one flipped bit in its bytes is refused on reading,
    with the file and the frame named; the other frames still read."""
    rng = np.random.default_rng(3)
    path = tmp_path / "t.h5"
    with SnapshotStore(path, "w", material=material("W")) as store:
        for k in range(3):
            store.append(random_network(rng, 20), float(k), np.arange(6.0) * 1e8)
    with h5py.File(path, "r") as f:
        dataset = f["frames"]["00000001"][name]
        offset = dataset.id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 5] ^= 0x10
    path.write_bytes(bytes(raw))
    with SnapshotStore(path) as store:
        store.read(0)
        store.read(2)
        with pytest.raises(OSError, match=r"t\.h5: frame 1 is corrupted"):
            store.read(1)


@pytest.mark.parametrize("kind", ["external_link", "external_storage"])
def test_data_from_other_files_is_refused(tmp_path, kind):
    """A store whose frame points to another file's bytes (an HDF5 external link, or a dataset with external
    storage) is refused when the frame is read; nothing of the other file is copied."""
    rng = np.random.default_rng(4)
    path = tmp_path / "t.h5"
    with SnapshotStore(path, "w", material=material("W")) as store:
        store.append(random_network(rng, 10), 0.0)
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["positions"] = np.full((10, 3), 42.0)
    raw = tmp_path / "secret.bin"
    np.full((10, 3), 42.0).tofile(raw)
    with h5py.File(path, "a") as f:
        group = f["frames"]["00000000"]
        del group["positions"]
        if kind == "external_link":
            group["positions"] = h5py.ExternalLink(str(secret), "/positions")
        else:
            group.create_dataset("positions", shape=(10, 3), dtype="f8", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])
    with SnapshotStore(path) as store, pytest.raises(FileFormatError, match="outside the store|external files"):
        store.read(0)
