#!/usr/bin/env bash
# SCRAPS ablation on the demo corpus (the paper's integrator ablation, plus augmentation on/off): six runs with the
# same data, seed and budget, each evaluated like stage 3, then one table -> exp/ablation/ablation.md
# (local/make_results.py copies it into RESULTS.md). The augmentation warmup of conf/scraps.yaml is off here
# (augment.warmup_steps=0): at this budget it would cover most of the run, and "augmentation on" would mean little.
#
#   ./ablation.sh                 # after ./run.sh --stop-stage 1 (needs data/manifests)
#   ./ablation.sh --steps 300     # training steps per run (default 300; batch 32 in one process each)
#   ./ablation.sh --jobs 2        # runs side by side (default 2: one per core of a 2-core machine)
set -euo pipefail
cd "$(dirname "$0")"

steps=300
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "ablation.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
command -v scraps > /dev/null || { echo "ablation.sh: the scraps command is not on PATH; activate the project's venv first (. ../../.venv/bin/activate) or run make demo" >&2; exit 2; }
repo=../..
[ -f data/manifests/cuts_train.jsonl.gz ] || { echo "ablation.sh: data/manifests not found; run ./run.sh --stop-stage 1 first" >&2; exit 2; }

one() {  # one <integrator> <augment: true|false>
  local name="$1_aug_$2" dir="exp/ablation/$1_aug_$2"
  if python $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml exp_dir=$dir model.integrator=$1 \
      augment.enabled=$2 augment.warmup_steps=0 train.batch_size=32 train.max_steps=$steps train.val_every=$steps train.ckpt_every=$steps \
      > exp/ablation/$name.log 2>&1 &&
    scraps evaluate --model $dir/export --cuts data/manifests/cuts_test.jsonl.gz --out $dir/eval --seed 0 \
      >> exp/ablation/$name.log 2>&1; then
    echo "[$(date +%H:%M:%S)] ablation: $name done"
  else
    echo "[$(date +%H:%M:%S)] ablation: $name FAILED; see exp/ablation/$name.log" >&2
    return 1
  fi
}

mkdir -p exp/ablation
status=0
running=0
for integrator in shared separate none; do
  for aug in true false; do
    one $integrator $aug &
    running=$((running + 1))
    if [ $running -ge $jobs ]; then wait -n || status=1; running=$((running - 1)); fi
  done
done
while [ $running -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
python local/ablation_table.py --steps $steps --out exp/ablation/ablation.md
exit $status
