#!/usr/bin/env bash
# ParaView face of ddml (idempotent): Debian ParaView 5.11 + its Python + Xvfb, installed when missing (as root),
# then a check that ParaView's own Python (pvpython/pvbatch, Debian's /usr/bin/python3.11) can import ddml_engine
# and its dependencies, and that the project venv can import paraview.simple. See docs/paraview.md.
# Usage: bash scripts/setup_paraview.sh        (never fails the caller: problems are reported as warnings)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh paraview python3-paraview xvfb
if ! command -v pvbatch >/dev/null 2>&1; then
  echo "[setup] warning: pvbatch not found; ParaView tests will be skipped" >&2
  exit 0
fi
# ParaView 5.11's Python plugin loader imports inspect.getargspec (gone in Python 3.11): install a tiny import
# hook into Debian's site directory (a .pth line runs it at start-up; it acts only when ParaView imports
# paraview.detail.pythonalgorithm). Without root, see docs/paraview.md for the per-script alternative.
site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null || true)
if [ -n "$site" ]; then
  for f in ddml_paraview_compat.py ddml_paraview_compat.pth; do
    if ! cmp -s "paraview_plugins/compat/$f" "$site/$f"; then
      if mkdir -p "$site" 2>/dev/null && cp "paraview_plugins/compat/$f" "$site/$f.tmp.$$" 2>/dev/null; then
        mv -f "$site/$f.tmp.$$" "$site/$f" && echo "[setup] installed $site/$f"
      else
        echo "[setup] warning: cannot write $site/$f (run as root); ParaView Python plugins need it" >&2
      fi
    fi
  done
fi
if [ -x .venv/bin/python ]; then
  # ParaView's interpreter uses the venv's site-packages through paraview_plugins/env.py (nothing of the venv is
  # copied into the system). Check it once here so a broken arrangement shows up at set-up time.
  if xvfb-run -a pvbatch paraview_plugins/check_environment.py >/tmp/ddml-pv-check.$$ 2>&1; then
    echo "[setup] ParaView: $(grep -m1 '^ddml-paraview-ok' /tmp/ddml-pv-check.$$ || echo 'environment checked')"
  else
    echo "[setup] warning: ParaView's Python cannot import ddml_engine; see docs/paraview.md" >&2
    tail -5 /tmp/ddml-pv-check.$$ >&2
  fi
  rm -f /tmp/ddml-pv-check.$$
fi
exit 0
