#!/usr/bin/env bash
# Debian packages ddml's optional faces need: Vulkan (OVITO rendering), xvfb; installed when missing.
set -uo pipefail
need=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || echo "[setup] warning: could not install ${need[*]}; tests that need them will be skipped" >&2
  else
    echo "[setup] warning: missing Debian packages ${need[*]} (run as root to install)" >&2
  fi
fi
exit 0
