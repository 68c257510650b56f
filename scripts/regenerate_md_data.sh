#!/usr/bin/env bash
# Regenerate the built-in MD data of the main job (ddml_engine/data/md_w_fs) from scratch: the two LAMMPS runs
# of benchmarks/RESULTS.md ("MD ground truth for learning"), DXA into snapshot stores, the md report tables, then
# the compressed copies. About 60 min of MD for the pair on 2 cores (one rank each, at the same time), a few
# minutes of DXA. Needs LAMMPS and OVITO (scripts/setup_md.sh). Usage: scripts/regenerate_md_data.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/md_builtin}"
py=.venv/bin/python
mkdir -p "$out"
# The potential's 300 K elastic constants (b, mu, nu of the DDD side; C11, C12, C44 of the loading).
[ -f "$out/elastic_300K.json" ] || $py benchmarks/md_experiment.py --out "$out" --stage elastic
args=(--out "$out" --cells 42 --loops 14 --radius 22 --rate 2e9 --strain 0.10 --seed 11 --nprocs 1)
for mode in tension compression; do  # the two runs at the same time, one core each
  OMP_NUM_THREADS=1 $py benchmarks/md_experiment.py "${args[@]}" --stage run --modes "$mode" > "$out/$mode.log" 2>&1 &
done
wait
for mode in tension compression; do
  OMP_NUM_THREADS=2 $py benchmarks/md_experiment.py "${args[@]}" --stage extract --modes "$mode"
done
$py -m ddml_engine.md.builtin "$out" ddml_engine/data/md_w_fs
