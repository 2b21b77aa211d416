#!/bin/bash
# Issue 92's measurements on one GPU machine, in one call of at most 8 minutes (16 cores, one H100 or H200;
# run it with the device tool's timeout_s=600): what the first training of the default recipe costs in a
# fresh process, and which XLA setting and precision make it short.
#
#   probe           a cold trivial jax.jit timed (a PTX toolchain mismatch costs a minute a program), and
#                   which of the XLA flags below the installed jaxlib knows (each tried in a child: XLA aborts a
#                   process at an unknown flag; a row whose flag is unknown is not run, and says so)
#   xla_defaults    KERAS_BACKEND=jax featbus train BUSI with XLA's own flags (XLA_FLAGS empty) and today's
#                   precision (--mixed-precision auto: bfloat16 on a GPU), an empty compilation cache
#   autotune_0      the same with --xla_gpu_autotune_level=0 (no autotuning: cuDNN's and cuBLAS's heuristic pick)
#   autotune_1      --xla_gpu_autotune_level=1 (autotuning on uninitialised buffers)
#   triton_gemm_off --xla_gpu_enable_triton_gemm=false
#   float32_best    the fastest of the four above, in float32 (--mixed-precision off)
#   warm_best       the fastest fresh row again, on the compilation cache its run filled
#   torch           KERAS_BACKEND=torch featbus train BUSI, once
#   featbus_over_bare  only where 150 s of the budget are left: backend_speed.py's JAX row (featbus's fit
#                   against the bare Keras loop at steady state, 256 BUSI images, 3 epochs)
#
# Every recipe row is a fresh process (benchmarks/first_training.py run) with its own empty compilation cache
# (warm_best excepted) and its own time limit; all together stay within BUDGET_S (480 s): a step gets at most
# what is left of it, a step cut at its limit still writes its row (what compiled until then, "finished":
# false), a step with no time left is named in not_run. The results file is rewritten after every step, so a
# call cut short keeps every row that finished.
#
# Outputs in OUT_DIR (default gpu/):
#
#   backend_speed_gpu.json   benchmarks/results/backend_speed_gpu.json with `first_training` {probe, rows,
#                            best_fresh, not_run, units, devices}: each row training_s, process_s,
#                            first_epoch_s, images_per_s (epochs after the first), programs_compiled and
#                            compile_s, gpu_busy_percent, held_out_accuracy [interval], device, setting;
#                            copy it over the repository's file after reading it
#   rows/NAME.json           each row as its step wrote it
#   log.txt                  each step's output, one after another
#
#   bash scripts/gpu_measurements.sh OUT_DIR
#   bash scripts/gpu_measurements.sh --dry-run OUT_DIR   # on a CPU: the bundled sample at 32 px, 1 epoch, JAX
#                                                        # on the CPU: every row's shape, end to end
#
# Needs featbus importable with Keras on PyTorch and JAX (jax[cuda12] on the GPU machine), nvidia-smi, and BUSI
# under featbus.get_data_home() (FEATBUS_DATA), e.g. `python scripts/pack_sites.py unpack sites.tar /tmp/data`
# (a 224 px JPEG copy: DATA_NOTE says which data the rows saw). PYTHON names the interpreter (default
# python3). Models and caches go to a new folder under MODEL_DIR (default /tmp), removed at the end.
set -u
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
W=${1:-gpu}; mkdir -p "$W/rows"; W=$(cd "$W" && pwd); : > "$W/log.txt"; rm -f "$W"/rows/*.json "$W/rows/skipped.tsv" "$W/backend_speed_jax.json"
REPO=$(cd "$(dirname "$0")/.." && pwd); cd "$REPO"  # this checkout's featbus, whatever is installed
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
PY=${PYTHON:-python3}
TMPD=${MODEL_DIR:-/tmp}/featbus_gpu_$$
rm -rf "$TMPD"; mkdir -p "$TMPD"
trap 'rm -rf "$TMPD"' EXIT
if [ "$DRY" = 1 ]; then
    DATA=$("$PY" -c "from featbus.datasets.sample import SAMPLE_DIR; print(SAMPLE_DIR)")
    TRAIN_ARGS=(--input-size 32 --epochs 1)
    SPEED_ARGS=(--n-images 8 --size 32 --epochs 2)
    SCALE=4  # a shared CPU: every limit, and the budget, four times the GPU's
    export JAX_PLATFORMS=cpu
    DATA_NOTE=${DATA_NOTE:-"dry run: the bundled 52-image sample at 32 px, 1 epoch, on this machine's CPU"}
else
    DATA=$("$PY" -c "from featbus import get_data_home; print(get_data_home() / 'busi')")
    TRAIN_ARGS=()
    SPEED_ARGS=(--n-images 256 --epochs 3)
    SCALE=1
    DATA_NOTE=${DATA_NOTE:-"BUSI as featbus.get_data_home() holds it"}
fi
export DATA_NOTE
BUDGET_S=$((480 * SCALE))
BASE=benchmarks/results/backend_speed_gpu.json
ROWS="$W/rows"
FLAG_AUTOTUNE_0=--xla_gpu_autotune_level=0
FLAG_AUTOTUNE_1=--xla_gpu_autotune_level=1
FLAG_TRITON_OFF=--xla_gpu_enable_triton_gemm=false
declare -A FLAGS=([xla_defaults]="" [autotune_0]=$FLAG_AUTOTUNE_0 [autotune_1]=$FLAG_AUTOTUNE_1
                  [triton_gemm_off]=$FLAG_TRITON_OFF)
CANDIDATES=(xla_defaults autotune_0 autotune_1 triton_gemm_off)
cat > "$ROWS/plan.json" <<JSON
{"order": ["xla_defaults", "autotune_0", "autotune_1", "triton_gemm_off", "float32_best", "warm_best", "torch"],
 "candidates": ["xla_defaults", "autotune_0", "autotune_1", "triton_gemm_off"],
 "data": "$DATA_NOTE", "budget_s": $BUDGET_S}
JSON

collect() {  # the results file rewritten with every row so far
    "$PY" benchmarks/first_training.py collect "$ROWS" --base "$BASE" --output "$W/backend_speed_gpu.json" \
        --speed "$W/backend_speed_jax.json" $([ "$DRY" = 1 ] && echo --dry-run) >> "$W/log.txt" 2>&1
}
skip() {  # skip NAME WHY
    printf '%s\t%s\n' "$1" "$2" >> "$ROWS/skipped.tsv"; echo "$1: not run ($2)" | tee -a "$W/log.txt"
    collect
}
limit_for() {  # limit_for SECONDS: the step's own limit, or what is left of the budget when that is less
    local own=$(($1 * SCALE)) left=$((BUDGET_S - SECONDS))
    echo $((own < left ? own : left))
}
step() {  # step NAME SECONDS COMMAND...: run it within its limit (SIGTERM, then KILL 10 s later), log its output
    local name=$1 limit; limit=$(limit_for "$2"); shift 2
    if [ "$limit" -lt $((10 * SCALE)) ]; then skip "$name" "the ${BUDGET_S} s budget was spent"; return 1; fi
    local t0=$SECONDS
    echo "===== $name (limit $limit s): $*" >> "$W/log.txt"
    FEATBUS_ROW_T0=$(date +%s.%N) timeout -k 10 "$limit" "$@" >> "$W/log.txt" 2>&1
    local rc=$?
    echo "$name: exit $rc after $((SECONDS - t0)) s" | tee -a "$W/log.txt"
    collect
    return 0
}
recipe() {  # recipe NAME SECONDS CACHE_DIR NOTE [ENV=VALUE...] [-- extra featbus train options]: one row
    local name=$1 seconds=$2 cache=$3 note=$4; shift 4
    local envs=() extra=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    [ "${1:-}" = "--" ] && shift && extra=("$@")
    step "$name" "$seconds" env JAX_COMPILATION_CACHE_DIR="$cache" ${envs[@]+"${envs[@]}"} \
        "$PY" benchmarks/first_training.py run "$name" --rows "$ROWS" --note "$note" -- \
        train "$DATA" ${TRAIN_ARGS[@]+"${TRAIN_ARGS[@]}"} ${extra[@]+"${extra[@]}"} \
        -o "$TMPD/$name.featbus" --overwrite --quiet
}

# 1. a cold trivial jax.jit, and the flags this jaxlib knows
step probe 40 "$PY" benchmarks/first_training.py probe --rows "$ROWS" --timeout $((30 * SCALE)) \
    --flag="$FLAG_AUTOTUNE_0" --flag="$FLAG_AUTOTUNE_1" --flag="$FLAG_TRITON_OFF"
known() { [ -z "$1" ] || "$PY" benchmarks/first_training.py known --flag="$1" --rows "$ROWS"; }

# 2. the default recipe on JAX, fresh process, empty cache, per XLA setting (today's first: the baseline)
declare -A LIMIT=([xla_defaults]=135 [autotune_0]=70 [autotune_1]=70 [triton_gemm_off]=70)
for name in "${CANDIDATES[@]}"; do
    flag=${FLAGS[$name]}
    if ! known "$flag"; then skip "$name" "the installed jaxlib does not know $flag (rows/probe.json)"; continue; fi
    recipe "$name" "${LIMIT[$name]}" "$TMPD/cache_$name" "XLA_FLAGS='$flag', --mixed-precision auto, empty cache" \
        KERAS_BACKEND=jax XLA_FLAGS="$flag"
done
best_of() {  # best_of NAME...: the finished row with the fewest training seconds
    "$PY" -c "import json, sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path
from first_training import best_setting
rows = {p.stem: json.loads(p.read_text()) for p in Path(sys.argv[1]).glob('*.json')}
print(best_setting(rows, sys.argv[2:]) or '')" "$ROWS" "$@"
}
# 3. float32 with the fastest setting
BEST=$(best_of "${CANDIDATES[@]}")
if [ -n "$BEST" ]; then
    FLAGS[float32_best]=${FLAGS[$BEST]}
    recipe float32_best 60 "$TMPD/cache_float32_best" \
        "XLA_FLAGS='${FLAGS[$BEST]}' (the fastest of the fresh rows, $BEST), --mixed-precision off, empty cache" \
        KERAS_BACKEND=jax XLA_FLAGS="${FLAGS[$BEST]}" -- --mixed-precision off
else
    skip float32_best "no fresh JAX row finished"
fi
# 4. the fastest fresh setting again, on the cache its run filled
WARM=$(best_of "${CANDIDATES[@]}" float32_best)
if [ -n "$WARM" ]; then
    precision=$([ "$WARM" = float32_best ] && echo off || echo auto)
    recipe warm_best 45 "$TMPD/cache_$WARM" \
        "the fastest fresh row ($WARM) again: XLA_FLAGS='${FLAGS[$WARM]}', --mixed-precision $precision, its cache warm" \
        KERAS_BACKEND=jax XLA_FLAGS="${FLAGS[$WARM]}" -- --mixed-precision "$precision"
else
    skip warm_best "no fresh JAX row finished"
fi
# 5. PyTorch's default recipe, once
recipe torch 90 "$TMPD/cache_torch" "KERAS_BACKEND=torch, --mixed-precision auto" KERAS_BACKEND=torch

# 6. with time left: featbus against the bare JAX loop at steady state (backend_speed.py), under the fastest
#    fresh setting's flags (its file is written at its end only: it runs only where its whole limit is left)
if [ $((BUDGET_S - SECONDS)) -ge $((150 * SCALE)) ]; then
    step featbus_over_bare 150 env KERAS_BACKEND=jax XLA_FLAGS="${FLAGS[${BEST:-xla_defaults}]}" \
        "$PY" -u benchmarks/backend_speed.py --backends jax ${SPEED_ARGS[@]+"${SPEED_ARGS[@]}"} \
        --output "$W/backend_speed_jax.json"
else
    skip featbus_over_bare "less than its 150 s limit left of the ${BUDGET_S} s budget"
fi

collect
echo "rows in $W/backend_speed_gpu.json (best fresh setting: ${BEST:-none})"
