#!/usr/bin/env bash
# Debian packages ddml's optional faces need (Vulkan for OVITO rendering, ParaView, Xvfb), installed when missing,
# as root, with a line before and after each step (apt's own output goes to a log, it is long).
set -uo pipefail
need=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log=$(mktemp /tmp/ddml-apt.XXXXXX.log)
    start=$(date +%s)
    echo "[setup] apt-get install ${need[*]} (as root; usually 1-5 min; log: $log) ..."
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}") >"$log" 2>&1; then
      echo "[setup] installed ${need[*]} in $(( $(date +%s) - start )) s"
      rm -f "$log"
    else
      echo "[setup] warning: could not install ${need[*]} (see $log); tests that need them will be skipped" >&2
    fi
  else
    echo "[setup] warning: missing Debian packages ${need[*]} (run as root to install)" >&2
  fi
fi
exit 0
