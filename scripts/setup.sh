#!/usr/bin/env bash
# Install everything ddml needs into ./.venv (idempotent). Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.ddml-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing Python packages (torch==2.13.0 CPU, numpy, numba, h5py, ovito, ...)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
    || .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
# The faces and MD: Debian packages installed only when missing (needs root), each script idempotent.
bash scripts/setup_ovito.sh                    # Vulkan CPU driver for OVITO rendering; modifier entry points
bash scripts/setup_md.sh >/dev/null \
  || echo "[setup] warning: MD set-up failed (LAMMPS tests will be skipped)" >&2   # MPICH + libmpi.so.12 link
bash scripts/setup_paraview.sh                 # Debian ParaView 5.11 + Xvfb; ParaView's Python sees ddml
