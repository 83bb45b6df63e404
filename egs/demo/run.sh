#!/usr/bin/env bash
# The demo: the whole two-stage SCRAPS -> TTS experiment on an offline, synthetic multi-speaker corpus.
#
#   ./run.sh                              # all stages
#   ./run.sh --stage 2 --stop-stage 2     # only SCRAPS pretraining
#   ./run.sh --nproc 1                    # pretrain SCRAPS in 1 process (default 2: accelerate launch --multi_gpu)
#
# Stages (each skips work already done, and training resumes from its last checkpoint, so a rerun continues):
#   0  synthesise the demo corpus with espeak-ng (offline, deterministic)       -> data/corpus
#   1  prepare lhotse manifests (normalise, G2P, split, prepare_report.json)   -> data/manifests
#   2  pretrain SCRAPS on all 8 voices                                          -> exp/scraps
#   3  evaluate SCRAPS on the test cuts (retrieval, sensitivity, robustness)    -> exp/scraps/eval
#   4  train the TTS on 3 voices twice, side by side (one process and core each):
#      encoder from scratch                                                     -> exp/tts_scratch
#      and encoder initialised from SCRAPS (identical otherwise)                -> exp/tts_scraps
#   5  compare the two TTS runs (thresholds reached and held, convergence.png)  -> exp/compare
#      and evaluate both free-running on the test sentences of their voices   -> exp/tts_*/eval
#   6  synthesise the sample sentences with both TTS models                     -> ../../samples/demo
#   7  write RESULTS.md from what the stages wrote (and copy its plots)          -> RESULTS.md, results/
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
nproc=2              # SCRAPS training processes (accelerate launch --multi_gpu; gloo on CPU), one per core
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --nproc) nproc="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v scraps > /dev/null || { echo "run.sh: the scraps command is not on PATH; activate the project's venv first (. ../../.venv/bin/activate) or run make demo" >&2; exit 2; }
# Small models on a 2-core CPU train fastest single-threaded per process.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
launch() {
  if [ "$nproc" -gt 1 ]; then
    accelerate launch --multi_gpu --num_processes "$nproc" "$@"
  else
    python "$@"
  fi
}
log() { echo "[$(date +%H:%M:%S)] $*"; }
# run_stage N NAME: true when stage N is selected; records the previous stage's wall time in exp/timings.tsv
current=""
record() {
  if [ -n "$current" ]; then
    mkdir -p exp && printf '%s\t%s\n' "$current" "$((SECONDS - t0))" >> exp/timings.tsv
    current=""
  fi
}
run_stage() {
  record
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then current="$1 $2"; t0=$SECONDS; return 0; fi
  return 1
}
repo=../..

if run_stage 0 corpus; then
  log "stage 0: synthesise the demo corpus"
  python -c "from scraps.data.demo import write_demo_corpus; write_demo_corpus('data/corpus', num_speakers=8, utts_per_speaker=450, seed=0)"
fi

if run_stage 1 prepare; then
  log "stage 1: prepare manifests"
  python -m scraps.data.prepare csv --csv data/corpus/metadata.csv --out-dir data/manifests \
    --num-dev 64 --num-test 96 --seed 0
fi

if run_stage 2 scraps; then
  log "stage 2: pretrain SCRAPS"
  launch $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml
fi

if run_stage 3 evaluate; then
  log "stage 3: evaluate SCRAPS"
  scraps evaluate --model exp/scraps/export --cuts data/manifests/cuts_test.jsonl.gz --out exp/scraps/eval --seed 0
fi

if run_stage 4 tts; then
  log "stage 4: TTS from scratch and TTS initialised from SCRAPS, side by side (logs: exp/tts_*.log)"
  mkdir -p exp
  python $repo/recipes/train_tts.py --config conf/tts.yaml exp_dir=exp/tts_scratch > exp/tts_scratch.log 2>&1 &
  pid_scratch=$!
  python $repo/recipes/train_tts.py --config conf/tts.yaml exp_dir=exp/tts_scraps \
    --init-from-scraps exp/scraps/export > exp/tts_scraps.log 2>&1 &
  pid_init=$!
  status=0
  wait $pid_scratch || { status=$?; echo "TTS from scratch failed; see exp/tts_scratch.log" >&2; }
  wait $pid_init || { status=$?; echo "TTS from SCRAPS failed; see exp/tts_scraps.log" >&2; }
  [ $status -eq 0 ] || exit $status
  tail -n 1 exp/tts_scratch.log exp/tts_scraps.log
fi

if run_stage 5 compare; then
  log "stage 5: compare convergence; evaluate both TTS models free-running on the test sentences"
  python $repo/recipes/compare_convergence.py --scratch exp/tts_scratch --scraps exp/tts_scraps --out exp/compare
  for run in tts_scratch tts_scraps; do
    tts-evaluate --model exp/$run/export --cuts data/manifests/cuts_test.jsonl.gz --out exp/$run/eval \
      --only-model-speakers --scraps exp/scraps/export --vocoder auto --seed 0 > exp/$run/eval.log 2>&1 &
  done
  status=0
  for job in $(jobs -p); do wait "$job" || status=$?; done
  [ $status -eq 0 ] || { echo "tts-evaluate failed; see exp/tts_*/eval.log" >&2; exit $status; }
  tail -n 1 exp/tts_scratch/eval.log exp/tts_scraps/eval.log
fi

if run_stage 6 samples; then
  log "stage 6: synthesise samples"
  out=$repo/samples/demo
  mkdir -p $out
  {
    echo "# Demo samples"
    echo
    echo "Made by \`egs/demo/run.sh --stage 6 --stop-stage 6\` at commit \`$(git rev-parse --short HEAD)\` on $(date -u +%Y-%m-%d),"
    echo "from the sentences in \`egs/demo/conf/sample_sentences.txt\` (speaker: the first of each model)."
    echo
  } > $out/README.md
  for run in tts_scratch tts_scraps; do
    cmd="tts-synthesize --model exp/$run/export --text-file conf/sample_sentences.txt --out-dir $out/$run --vocoder auto --seed 0"
    echo "## $run" >> $out/README.md
    echo >> $out/README.md
    echo "    $cmd" >> $out/README.md
    echo >> $out/README.md
    $cmd 2>&1 | tee -a /dev/stderr | sed 's/^/    /' >> $out/README.md
    echo >> $out/README.md
  done
fi

if run_stage 7 results; then
  log "stage 7: write RESULTS.md"
  record
  python local/make_results.py
fi
record
log "done"
