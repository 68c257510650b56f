"""Pack an MD experiment (benchmarks/md_experiment.py output) into the built-in data folder of the main job.

For each of tension and compression: the snapshot store of `ddml md extract` (networks, cell, MD stress, time and
F^DDD per frame) rewritten with gzip compression and checksums, and the `ddml md report` tables
(<mode>_stress_strain.csv, <mode>_density.csv). `scripts/regenerate_md_data.sh` runs the MD and this packing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

#: Size limit of the packed folder (bytes): the data ship inside the package.
MAX_BYTES = 25_000_000


def repack_store(source: str | os.PathLike, target: str | os.PathLike) -> int:
    """Copy every frame of a snapshot store into a new compressed store (material, metadata and extras kept);
    returns the number of frames."""
    from ddml_engine.io._atomic import atomic_path
    from ddml_engine.io.store import SnapshotStore

    with SnapshotStore(source, "r") as src, atomic_path(Path(target)) as tmp:
        with SnapshotStore(tmp, "w", material=src.material, metadata=src.metadata, compression="gzip") as dst:
            for k in range(len(src)):
                frame = src.read(k)
                dst.append(frame.network, frame.time, frame.stress, **frame.extra)
            return len(src)


def pack(md_out: str | os.PathLike, target: str | os.PathLike, modes: tuple[str, ...] = ("tension", "compression")
         ) -> dict:
    """md_out/<mode>/networks.h5 and md_out/reports/<mode>_*.csv -> target/<mode>.h5 and target/<mode>_*.csv, plus
    target/README.json (where they came from). ValueError when the packed folder exceeds MAX_BYTES."""
    md_out, target = Path(md_out), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    info: dict = {"source": str(md_out.resolve()), "modes": {}}
    for mode in modes:
        frames = repack_store(md_out / mode / "networks.h5", target / f"{mode}.h5")
        for table in ("stress_strain", "density"):
            src = md_out / "reports" / f"{mode}_{table}.csv"
            if src.is_file():
                shutil.copyfile(src, target / f"{mode}_{table}.csv")
        config = md_out / mode / "config.json"
        md_config = json.loads(config.read_text()).get("config", {}) if config.is_file() else {}
        info["modes"][mode] = {"frames": frames, "md_config": md_config}
    size = sum(p.stat().st_size for p in target.iterdir() if p.is_file())
    info["bytes"] = size
    (target / "README.json").write_text(json.dumps(info, indent=1) + "\n")
    if size > MAX_BYTES:
        raise ValueError(f"{target}: {size / 1e6:.1f} MB exceeds the {MAX_BYTES / 1e6:.0f} MB limit of built-in data")
    return info


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("md_out", help="output folder of benchmarks/md_experiment.py")
    parser.add_argument("target", help="data folder to write (ddml_engine/data/md_w_fs)")
    args = parser.parse_args()
    print(json.dumps(pack(args.md_out, args.target), indent=1))
