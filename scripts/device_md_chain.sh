#!/usr/bin/env bash
# Ready script for a lent GPU machine (16 cores + one GPU): the main job's MD chain with a longer training on the
# GPU (train.device "auto" picks CUDA; DDD+ML and DDD on the CPUs), for three training seeds (the spread of the
# learned law). Usage: bash scripts/device_md_chain.sh [OUT] [EPOCHS]   (resumable: re-run after an interruption)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/device_md_chain}
EPOCHS=${2:-300}
DDML_SKIP_FACES=1 bash scripts/setup.sh >/dev/null
threads=$(nproc)
for seed in 0 1 2; do
  .venv/bin/ddml demo --epochs "$EPOCHS" --seed "$seed" --threads "$threads" --no-progress \
    --output-dir "$OUT/seed$seed" 2>&1 | tail -30
done
