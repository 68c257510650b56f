#!/usr/bin/env bash
# Install everything ddml needs into ./.venv (idempotent). Usage: scripts/setup.sh
# DDML_SKIP_FACES=1 skips the Debian packages of the OVITO / ParaView / MD faces (no root needed; `ddml demo`
# works without them, their tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.ddml-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  start=$(date +%s)
  echo "[setup 1/2] installing Python packages into .venv (torch==2.13.0 CPU, numpy, numba, h5py, ovito, ...;"
  echo "            a few minutes on a fresh machine, one line per package)"
  .venv/bin/python -m pip install -q --upgrade pip
  log=$(mktemp /tmp/ddml-pip.XXXXXX.log)
  set +e
  .venv/bin/python -m pip install --progress-bar off -r requirements.txt 2>&1 | tee "$log" \
    | grep --line-buffered -E '^(Collecting|Installing|Successfully)' | sed -u 's/^/[setup]   /'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "[setup] error: pip install -r requirements.txt failed (full log: $log):" >&2
    tail -15 "$log" >&2
    exit "$status"
  fi
  rm -f "$log"
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
    || .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
  echo "[setup 1/2] Python packages ready in $(( $(date +%s) - start )) s"
fi
if [ "${DDML_SKIP_FACES:-0}" = 1 ]; then
  echo "[setup 2/2] DDML_SKIP_FACES=1: OVITO rendering, MD and ParaView system packages skipped"
  exit 0
fi
echo "[setup 2/2] faces: Debian packages as root, only when missing (skip with DDML_SKIP_FACES=1)"
# The faces and MD: Debian packages installed only when missing (needs root), each script idempotent.
bash scripts/setup_ovito.sh                    # Vulkan CPU driver for OVITO rendering; modifier entry points
bash scripts/setup_md.sh >/dev/null \
  || echo "[setup] warning: MD set-up failed (LAMMPS tests will be skipped)" >&2   # MPICH + libmpi.so.12 link
bash scripts/setup_paraview.sh                 # Debian ParaView 5.11 + Xvfb; ParaView's Python sees ddml
