#!/usr/bin/env bash
# SCRAPS on real speech: LJSpeech subset + FSDD digits (../shared/data) mixed with a small espeak-ng corpus, then
# the SCRAPS score checked as an intelligibility metric against pocketsphinx on held-out LJSpeech clips.
#
#   ./run.sh                                   # all stages, 100 % of the real training data
#   ./run.sh --fractions "25 50 100"           # stages 2-5 once per share of the real training data (in %)
#   ./run.sh --stage 3 --stop-stage 3          # only SCRAPS training
#   ./run.sh --nproc 1                         # train in 1 process (default 2: accelerate launch --multi_gpu)
#   ./run.sh --data-root /path/to/data         # folder holding ljspeech_subset/ and fsdd/ (default ../shared/data)
#   ./run.sh --stage 3 --fractions 25 --tag noaug --overrides "augment.enabled=false"
#                                              # a variant: stages 3-5 write exp/scraps_r<pct>_<tag>, its SCRAPS
#                                              # training takes the key=value overrides after conf/scraps.yaml
#
# Stages (each skips work already done; training resumes from its last checkpoint):
#   0  synthesise the espeak-ng corpus (8 voices x 150, offline) and list FSDD  -> data/espeak/corpus, data/fsdd/list.csv
#   1  prepare each corpus with the same text frontend (G2P, checks, splits)     -> data/{ljspeech,fsdd,espeak}
#      LJSpeech: 32 dev + 64 test clips held out by seed 0 (the test split no run trains on)
#   2  mix the corpora with lhotse (ids and speakers prefixed by corpus)         -> data/mix_r<pct>
#   3  pretrain SCRAPS on the mix (conf/scraps.yaml)                             -> exp/scraps_r<pct>[_<tag>]
#   4  evaluate SCRAPS on the held-out LJSpeech clips                            -> exp/scraps_r<pct>[_<tag>]/eval
#   5  SCRAPS score vs pocketsphinx WER under degradations                      -> .../intelligibility
#   6  write RESULTS.md from what stages 3-5 wrote                              -> RESULTS.md, results/
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"  # for --help, from anywhere
cd "$(dirname "$0")"

stage=0
stop_stage=100
nproc=2
fractions="100"
tag=""
overrides=""
data_root=../../../shared/data
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage="$2"; shift 2 ;;
    --stop-stage) stop_stage="$2"; shift 2 ;;
    --nproc) nproc="$2"; shift 2 ;;
    --fractions) fractions="$2"; shift 2 ;;
    --data-root) data_root="$2"; shift 2 ;;
    --tag) tag="_$2"; shift 2 ;;
    --overrides) overrides="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$self"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v scraps > /dev/null || { echo "run.sh: the scraps command is not on PATH; activate the project's venv first (. ../../.venv/bin/activate)" >&2; exit 2; }
for corpus in ljspeech_subset fsdd; do
  [ -d "$data_root/$corpus" ] || { echo "run.sh: $data_root/$corpus not found; pass --data-root with the folder that holds ljspeech_subset/ and fsdd/" >&2; exit 2; }
done
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
# CPU seconds: used by this script's finished children, and used by every process of the machine (from /proc)
own_cpu() { awk '{printf "%d", ($16 + $17) / 100}' /proc/$$/stat; }
all_cpu() { awk '/^cpu /{printf "%d", ($2 + $3 + $4 + $7 + $8 + $9) / 100}' /proc/stat; }
# run_stage N NAME: true when stage N is selected; records the previous stage's wall time in exp/timings.tsv
# (stage, fractions, wall s, CPU s of the stage's processes, CPU s of all processes meanwhile: the rest is others')
current=""
record() {
  if [ -n "$current" ]; then
    mkdir -p exp && printf '%s\t%s\t%s\t%s\t%s\n' "$current" "$fractions$tag" "$((SECONDS - t0))" \
      "$(($(own_cpu) - own0))" "$(($(all_cpu) - all0))" >> exp/timings.tsv
    current=""
  fi
}
run_stage() {
  record
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then
    current="$1 $2"; t0=$SECONDS; own0=$(own_cpu); all0=$(all_cpu); return 0
  fi
  return 1
}
repo=../..
exp_of() { echo "exp/scraps_r$1$tag"; }  # a share's (and variant's) experiment folder

if run_stage 0 corpus; then
  log "stage 0: synthesise the espeak-ng corpus, list FSDD"
  python -c "from scraps.data.demo import write_demo_corpus; write_demo_corpus('data/espeak/corpus', num_speakers=8, utts_per_speaker=150, seed=0)"
  python local/fsdd_list.py --fsdd-dir "$data_root/fsdd" --out data/fsdd/list.csv
fi

if run_stage 1 prepare; then
  log "stage 1: prepare LJSpeech, FSDD and espeak manifests (one text frontend)"
  python -m scraps.data.prepare ljspeech --corpus-dir "$data_root/ljspeech_subset" --out-dir data/ljspeech \
    --speaker lj --num-dev 32 --num-test 64 --seed 0
  # FSDD clips last 0.14-2.3 s: keep the short ones the default 0.3 s limit would drop
  python -m scraps.data.prepare csv --csv data/fsdd/list.csv --out-dir data/fsdd \
    --num-dev 30 --num-test 30 --seed 0 --min-duration 0.1
  python -m scraps.data.prepare csv --csv data/espeak/corpus/metadata.csv --out-dir data/espeak \
    --num-dev 32 --num-test 32 --seed 0
fi

if run_stage 2 mix; then
  for pct in $fractions; do
    log "stage 2: mix the corpora, $pct % of the real training data"
    python local/mix.py --config conf/mix.yaml real_percent="$pct" out_dir="data/mix_r$pct"
  done
fi

if run_stage 3 scraps; then
  for pct in $fractions; do
    log "stage 3: pretrain SCRAPS on data/mix_r$pct -> $(exp_of "$pct") ${overrides:+($overrides)}"
    # shellcheck disable=SC2086  # the overrides are separate key=value words
    launch $repo/recipes/pretrain_scraps.py --config conf/scraps.yaml data.dir="data/mix_r$pct" \
      exp_dir="$(exp_of "$pct")" $overrides
  done
fi

if run_stage 4 evaluate; then
  for pct in $fractions; do
    exp=$(exp_of "$pct")
    log "stage 4: evaluate $exp on the held-out LJSpeech clips"
    scraps evaluate --model "$exp/export" --cuts data/ljspeech/cuts_test.jsonl.gz --out "$exp/eval" --seed 0
  done
fi

if run_stage 5 intelligibility; then
  for pct in $fractions; do
    exp=$(exp_of "$pct")
    log "stage 5: SCRAPS score against pocketsphinx WER, $exp"
    # the degraded clips are the same for every model: reuse another share's transcripts where there are some
    reuse=()
    for other in exp/scraps_r*/intelligibility/intelligibility.json; do
      if [ -f "$other" ] && [ "$other" != "$exp/intelligibility/intelligibility.json" ]; then
        reuse=(--reuse-asr "$other"); break
      fi
    done
    scraps intelligibility --model "$exp/export" --cuts data/ljspeech/cuts_test.jsonl.gz \
      --out "$exp/intelligibility" --asr pocketsphinx --seed 0 "${reuse[@]}"
  done
fi

if run_stage 6 results; then
  log "stage 6: write RESULTS.md"
  record
  python local/make_results.py
fi
record
log "done"
