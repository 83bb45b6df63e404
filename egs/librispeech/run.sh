#!/usr/bin/env bash
# SCRAPS on LibriSpeech or LibriTTS, sized for GPUs. egs/libritts/run.sh is a link to this file: the recipe folder
# it is called from (librispeech or libritts) names the corpus, and holds that recipe's conf/, data/ and exp/.
# Not run in CI; tests/test_libri.py drives stage 1's code on tiny fake corpora in both layouts.
#
#   ./run.sh --dl-dir /data/libri                 # all stages: download, prepare, train, evaluate
#   ./run.sh --dl-dir /data/libri --stage 1       # the corpus is already in DL_DIR/LibriSpeech (or LibriTTS)
#   ./run.sh --nproc 8                            # GPUs to train on (accelerate launch --multi_gpu)
#   ./run.sh --train-parts "train-clean-100"      # a smaller start (default: train-clean-100 and -360)
#
# Stages (each skips work already done; training resumes from its last checkpoint):
#   0  download the parts with lhotse (download_librispeech: OpenSLR 12; download_libritts: OpenSLR 60)
#                                                                                      -> DL_DIR/LibriSpeech|LibriTTS
#   1  lhotse's prepare_librispeech / prepare_libritts, then the project's checks + G2P per part, then
#      train / dev (dev-clean) / test (test-clean) manifests                           -> data/manifests
#   2  pretrain SCRAPS (conf/scraps.yaml)                                              -> exp/scraps
#   3  evaluate on test-clean (retrieval, phoneme substitution, noise)                 -> exp/scraps/eval
#   4  SCRAPS score against pocketsphinx WER under degradations (200 utterances)      -> exp/scraps/intelligibility
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # for --help, from anywhere
cd "$(dirname "$0")"
corpus=$(basename "$PWD")
case "$corpus" in
  librispeech) folder=LibriSpeech ;;
  libritts) folder=LibriTTS ;;
  *) echo "run.sh: run me from egs/librispeech or egs/libritts (not $PWD)" >&2; exit 2 ;;
esac

stage=0
stop_stage=100
nproc=8
dl_dir=download
train_parts="train-clean-100 train-clean-360"
dev_parts="dev-clean"
test_parts="test-clean"
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --nproc) nproc="$2"; shift 2 ;;
    --dl-dir) dl_dir="$2"; shift 2 ;;
    --train-parts) train_parts="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$self"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v scraps > /dev/null || { echo "run.sh: the scraps command is not on PATH; activate the project's venv first" >&2; exit 2; }
launch() {
  if [ "$nproc" -gt 1 ]; then accelerate launch --multi_gpu --num_processes "$nproc" "$@"; else accelerate launch "$@"; fi
}
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
log() { echo "[$(date +%H:%M:%S)] $*"; }
repo=../..

if run_stage 0; then
  log "stage 0: download $folder ($train_parts $dev_parts $test_parts) into $dl_dir"
  python -c "import sys, lhotse.recipes as r; getattr(r, 'download_' + sys.argv[1])(sys.argv[2], dataset_parts=sys.argv[3:])" \
    "$corpus" "$dl_dir" $train_parts $dev_parts $test_parts
fi

if run_stage 1; then
  log "stage 1: prepare manifests"
  # shellcheck disable=SC2086  # the part lists are word lists
  python -m scraps.data.libri "$corpus" --corpus-dir "$dl_dir/$folder" --out-dir data/manifests \
    --train-parts $train_parts --dev-parts $dev_parts --test-parts $test_parts --num-jobs 8
fi

run_stage 2 && { log "stage 2: pretrain SCRAPS"; launch $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml; }
run_stage 3 && scraps evaluate --model exp/scraps/export --cuts data/manifests/cuts_test.jsonl.gz --out exp/scraps/eval
run_stage 4 && scraps intelligibility --model exp/scraps/export --cuts data/manifests/cuts_test.jsonl.gz \
  --out exp/scraps/intelligibility --asr pocketsphinx --max-utts 200
log "done"
