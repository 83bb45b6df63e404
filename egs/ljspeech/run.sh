#!/usr/bin/env bash
# SCRAPS + TTS on LJSpeech (a local copy; nothing is downloaded).
#
#   ./run.sh --corpus-dir /data/LJSpeech-1.1 [--stage N] [--stop-stage N] [--nproc 8]
#
# Stages: 1 prepare manifests -> data/manifests; 2 pretrain SCRAPS -> exp/scraps; 3 evaluate SCRAPS;
#         4 TTS from scratch -> exp/tts_scratch; 5 TTS from SCRAPS -> exp/tts_scraps; 6 compare -> exp/compare
set -euo pipefail
cd "$(dirname "$0")"

stage=1
stop_stage=100
nproc=1
corpus_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --nproc) nproc="$2"; shift 2 ;;
    --corpus-dir) corpus_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
launch() {
  if [ "$nproc" -gt 1 ]; then accelerate launch --multi_gpu --num_processes "$nproc" "$@"; else accelerate launch "$@"; fi
}
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
repo=../..

if run_stage 1; then
  if [ -z "$corpus_dir" ] || [ ! -f "$corpus_dir/metadata.csv" ]; then
    echo "run.sh: LJSpeech not found at '${corpus_dir:-<unset>}'; download LJSpeech-1.1 from" \
         "https://keithito.com/LJ-Speech-Dataset/, unpack it, and pass --corpus-dir /path/to/LJSpeech-1.1" >&2
    exit 2
  fi
  python -m scraps.data.prepare ljspeech --corpus-dir "$corpus_dir" --out-dir data/manifests \
    --num-dev 100 --num-test 500 --seed 0
fi
run_stage 2 && launch $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml
run_stage 3 && scraps evaluate --model exp/scraps/export --cuts data/manifests/cuts_test.jsonl.gz --out exp/scraps/eval
run_stage 4 && launch $repo/recipes/train_tts.py --config conf/tts.yaml exp_dir=exp/tts_scratch
run_stage 5 && launch $repo/recipes/train_tts.py --config conf/tts.yaml exp_dir=exp/tts_scraps \
  --init-from-scraps exp/scraps/export
run_stage 6 && python $repo/recipes/compare_convergence.py --scratch exp/tts_scratch --scraps exp/tts_scraps --out exp/compare
echo "done"
