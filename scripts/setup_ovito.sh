#!/usr/bin/env bash
# OVITO face of ddml (idempotent): Vulkan loader + Mesa's CPU Vulkan driver (lavapipe) for OVITO's headless
# rendering, installed when missing (as root), then a check that OVITO sees ddml's modifiers (entry points).
# Usage: bash scripts/setup_ovito.sh        (never fails the caller: problems are reported as warnings)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_system.sh libvulkan1 mesa-vulkan-drivers
if [ -x .venv/bin/python ]; then
  if .venv/bin/python - <<'PY' 2>/dev/null
from importlib.metadata import entry_points
names = {e.name for e in entry_points(group="OVITO.Modifier") if e.value.startswith("ovito_modifiers")}
assert len(names) == 4, names
print("[setup] OVITO: ddml modifiers registered:", ", ".join(sorted(names)))
PY
  then :
  else
    echo "[setup] warning: ddml's OVITO modifiers are not registered; run: .venv/bin/pip install --no-deps -e ." >&2
  fi
fi
exit 0
