#!/usr/bin/env bash
# Ready script for a lent GPU machine (16 cores + one GPU): the section 2.2 validation at the paper's scale for
# the paper's law and three other laws (training on the GPU: train.device "auto" picks CUDA; DDD on the CPUs).
# Usage: bash scripts/device_validate.sh [OUT]   (resumable: re-run the same command after an interruption)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/device_validate}
bash scripts/setup.sh >/dev/null
threads=$(nproc)
for law in "2600 20" "300 150" "5000 10" "1000 1000"; do
  set -- $law
  .venv/bin/ddml validate --scale paper --me "$1" --ms "$2" --threads "$threads" --no-progress \
    --output-dir "$OUT/Me$1_Ms$2" 2>&1 | tail -40
done
