#!/usr/bin/env bash
# The demo: the whole two-stage SCRAPS -> TTS experiment on an offline, synthetic multi-speaker corpus.
#
#   ./run.sh                         # all stages
#   ./run.sh --stage 2 --stop-stage 2   # only SCRAPS pretraining
#
# Stages (each skips work that is already done, so a rerun continues where it stopped):
#   0  synthesise the demo corpus with espeak-ng (offline, deterministic)      -> data/corpus
#   1  prepare lhotse manifests (normalise, G2P, split, prepare_report.json)  -> data/manifests
#   2  pretrain SCRAPS on all voices                                           -> exp/scraps
#   3  train the TTS from scratch on a subset of voices                        -> exp/tts_scratch
#   4  train the same TTS initialised from the SCRAPS phonetic encoder         -> exp/tts_scraps
#   5  compare the two TTS runs (convergence.png, comparison.json)             -> exp/compare
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
nproc_run=1          # processes for training (accelerate launch --num_processes)
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --nproc) nproc_run="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

launch() {
  if [ "$nproc_run" -gt 1 ]; then
    accelerate launch --multi_gpu --num_processes "$nproc_run" "$@"
  else
    python "$@"
  fi
}
log() { echo "[$(date +%H:%M:%S)] $*"; }
repo=../..

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: synthesise the demo corpus"
  python -m scraps.data.prepare demo-corpus --out-dir data/corpus --num-speakers 8 --utts-per-speaker 150 --seed 0
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: prepare manifests"
  python -m scraps.data.prepare csv --csv data/corpus/metadata.csv --out-dir data/manifests --num-dev 64 --num-test 96 --seed 0
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: pretrain SCRAPS"
  launch $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml
fi
