#!/usr/bin/env bash
# Does SCRAPS pretraining speed up the TTS? The grid: the demo TTS trained from scratch and from the demo's SCRAPS
# export, 3 seeds each, in three settings, all judged by the same SCRAPS export on free-running dev output:
#
#   small    the 3 demo TTS voices, 80 training sentences each (240 utterances)
#   full     the same voices, all their training sentences (about 430 each, 1,287 utterances)
#   unseen   3 voices SCRAPS never heard (speakers 8-10 of the demo's voice list, with their own sentences),
#            all their training sentences
#
# SCRAPS is pretrained once, by run.sh (stages 0-2), on the 8 demo voices: more data than any TTS run here sees.
# Not part of make demo: about 1.8 hours on an idle 2-core CPU (18 runs, two side by side, one core each: 12 minutes
# a pair); a probe adds about 6 minutes a seed.
#
#   ./convergence.sh                      # everything; a rerun skips finished runs
#   ./convergence.sh --settings "small"   # one setting
#   ./convergence.sh --seeds "0 1" --steps 400
#   ./convergence.sh --settings small --probes "frozen slowenc"   # probes beside the setting's scratch runs
#
# Probes (each compared with the same setting's scratch runs, in exp/convergence/<setting>/compare_<probe>/):
#   frozen    the SCRAPS encoder copied and never trained (learning rate 0 for all steps)
#   slowenc   the SCRAPS encoder copied and trained at a tenth of the learning rate
#
# Output: exp/convergence/<setting>/{scratch,scraps}_s<seed>/ (runs), exp/convergence/<setting>/compare/ and
# CONVERGENCE.md (tables and plots, written by local/convergence_report.py).
set -euo pipefail
cd "$(dirname "$0")"

settings="small full unseen"
seeds="0 1 2"
steps=800
probes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --settings) settings="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --probes) probes="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "convergence.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v tts-evaluate > /dev/null || { echo "convergence.sh: activate the project's venv first (. ../../.venv/bin/activate)" >&2; exit 2; }
[ -f exp/scraps/export/model.safetensors ] || { echo "convergence.sh: no SCRAPS export in exp/scraps/export; run ./run.sh --stop-stage 2 first" >&2; exit 2; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
log() { echo "[$(date +%H:%M:%S)] $*"; }
root=exp/convergence
mkdir -p $root

if [[ " $settings " == *" unseen "* ]] && [ ! -f data/unseen/manifests/cuts_train.jsonl.gz ]; then
  log "synthesise and prepare the unseen voices (speakers 8-10 of the demo's voice list)"
  python -c "from scraps.data.demo import write_demo_corpus; write_demo_corpus('data/unseen/corpus', num_speakers=11, utts_per_speaker=450, seed=0, first_speaker=8)"
  python -m scraps.data.prepare csv --csv data/unseen/corpus/metadata.csv --out-dir data/unseen/manifests \
    --num-dev 24 --num-test 48 --seed 0
fi

# setting -> overrides of conf/tts.yaml
declare -A overrides=(
  [small]="data.max_utts_per_speaker=80"
  [full]="data.max_utts_per_speaker=450"
  [unseen]="data.dir=data/unseen/manifests data.speakers=null data.max_utts_per_speaker=450"
)
common="train.max_steps=$steps train.val_every=100 train.ckpt_every=$steps val.scraps_scorer=exp/scraps/export"

# arm -> how its encoder starts and learns
declare -A arms=(
  [scratch]=""
  [scraps]="--init-from-scraps exp/scraps/export"
  [frozen]="--init-from-scraps exp/scraps/export --freeze-encoder-steps $steps"
  [slowenc]="--init-from-scraps exp/scraps/export --encoder-lr-scale 0.1"
)

train() {  # setting arm seed
  local dir=$root/$1/$2_s$3
  [ -f $dir/export/model.safetensors ] && return 0
  [ -n "${arms[$2]+set}" ] || { echo "convergence.sh: unknown arm $2 (scratch scraps frozen slowenc)" >&2; return 1; }
  mkdir -p $root/$1
  python ../../recipes/train_tts.py --config conf/tts.yaml exp_dir=$dir train.seed=$3 ${overrides[$1]} $common \
    ${arms[$2]} > $dir.log 2>&1 || { echo "training $dir failed; see $dir.log" >&2; return 1; }
}
runs() {  # setting arm: the run folders of every seed
  for s in $seeds; do echo -n "$root/$1/$2_s$s "; done
}

if [ -n "$probes" ]; then
  for setting in $settings; do
    # two runs at a time, one per core; the scratch runs are the grid's own (trained here if missing)
    jobs=()
    for seed in $seeds; do
      for arm in scratch $probes; do
        [ -f $root/$setting/${arm}_s$seed/export/model.safetensors ] || jobs+=("$arm $seed")
      done
    done
    for ((i = 0; i < ${#jobs[@]}; i += 2)); do
      log "$setting: ${jobs[i]}${jobs[i+1]:+ and ${jobs[i+1]}}"
      train $setting ${jobs[i]} & a=$!
      [ -n "${jobs[i+1]:-}" ] && { train $setting ${jobs[i+1]} & b=$!; wait $b; }
      wait $a
    done
    for probe in $probes; do
      python ../../recipes/compare_convergence.py --scratch $(runs $setting scratch) --scraps $(runs $setting $probe) \
        --out $root/$setting/compare_$probe
    done
  done
  python local/convergence_report.py --root $root
  log "done"
  exit 0
fi

for setting in $settings; do
  for seed in $seeds; do
    log "$setting, seed $seed: scratch and SCRAPS init side by side"
    train $setting scratch $seed & a=$!
    train $setting scraps $seed & b=$!
    wait $a && wait $b
  done
  python ../../recipes/compare_convergence.py --scratch $(runs $setting scratch) --scraps $(runs $setting scraps) \
    --out $root/$setting/compare
done
python local/convergence_report.py --root $root
log "done"
