#!/bin/bash
# Issue 85's measurements on one GPU machine, in one call of at most 8 minutes (each step has its own time
# limit: 20 + 140 + 70 + 150 + 100 s; 16 cores, one H100 or H200; run it with the device tool's timeout_s=600):
#
#   1. which backend featbus picks there when none is named (JAX, where it is installed with GPU support);
#   2. the default recipe on JAX (`featbus train BUSI`) in a fresh process with an empty compilation cache
#      (its training seconds include compiling), then again in a second process with that cache warm, the
#      GPU's busy time sampled by nvidia-smi beside each;
#   3. backend_speed.py's rows for JAX, then PyTorch (featbus against the bare Keras loop, bfloat16), each
#      in its own step, so that a step cut at its limit costs only its own row.
#
# Outputs in OUT_DIR (default gpu/):
#
#   backend_speed_gpu.json   benchmarks/results/backend_speed_gpu.json with this run's rows put in: `backends`
#                            (step 3) and `default_recipe_jax` {device, training_s (fresh process, compiling
#                            included), training_s_warm_cache (second process), images_per_s, gpu_busy_percent
#                            (mean of nvidia-smi's utilization.gpu samples, %), ...}: copy it over the
#                            repository's file after reading it
#   util_fresh.csv, util_warm.csv   nvidia-smi samples (0.5 s) during each training process
#   log.txt                  each step's output, one after another
#
#   bash scripts/gpu_measurements.sh OUT_DIR
#   bash scripts/gpu_measurements.sh --dry-run OUT_DIR   # on a CPU: tiny sizes, the bundled sample, to check
#                                                        # the script end to end (about 5 minutes on 2 cores)
#
# Needs featbus importable with Keras on PyTorch and JAX (jax[cuda12] on the GPU machine), nvidia-smi, and BUSI
# under featbus.get_data_home() (FEATBUS_DATA), e.g. `python scripts/pack_sites.py unpack sites.tar /tmp/data`
# (a 224 px JPEG copy: DATA_NOTE says which data the rows saw). PYTHON names the interpreter (default
# python3). Models go to MODEL_DIR (default /tmp), the compilation cache to a new folder under it.
set -u
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
W=${1:-gpu}; mkdir -p "$W"; W=$(cd "$W" && pwd); : > "$W/log.txt"
REPO=$(cd "$(dirname "$0")/.." && pwd); cd "$REPO"  # this checkout's featbus, whatever is installed
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
PY=${PYTHON:-python3}
TMPD=${MODEL_DIR:-/tmp}/featbus_gpu_$$
CACHE=$TMPD/jax-cache
rm -rf "$TMPD"; mkdir -p "$CACHE"
if [ "$DRY" = 1 ]; then
    DATA=$("$PY" -c "from featbus.datasets.sample import SAMPLE_DIR; print(SAMPLE_DIR)")
    TRAIN_ARGS=(--input-size 32 --epochs 1)
    SPEED_ARGS=(--n-images 8 --size 32 --epochs 2)
    SCALE=4  # a shared CPU: every step's time limit four times the GPU's
    DATA_NOTE=${DATA_NOTE:-"dry run: the bundled 52-image sample at 32 px, 1 epoch, on this machine's device"}
else
    DATA=$("$PY" -c "from featbus import get_data_home; print(get_data_home() / 'busi')")
    TRAIN_ARGS=()
    SPEED_ARGS=(--n-images 256 --epochs 3)
    SCALE=1
    DATA_NOTE=${DATA_NOTE:-"BUSI as featbus.get_data_home() holds it"}
fi
export DATA_NOTE
step() {  # step NAME SECONDS COMMAND...: run it, its output appended to log.txt, say how it ended
    local name=$1 limit=$(($2 * SCALE)); shift 2
    local t0=$SECONDS
    echo "===== $name: $*" >> "$W/log.txt"
    timeout "$limit" "$@" >> "$W/log.txt" 2>&1
    local rc=$?
    echo "$name: exit $rc after $((SECONDS - t0)) s" | tee -a "$W/log.txt"
    return 0
}
sampler_start() {  # sampler_start FILE: nvidia-smi's busy percentage every 0.5 s, in the background, its
    # output away from this script's (a device call waits for every process holding its stdout)
    : > "$1"
    if command -v nvidia-smi >/dev/null 2>&1; then
        ( exec nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
            -lms 500 -f "$1" ) >/dev/null 2>&1 &
        SAMPLER=$!
    else
        SAMPLER=
    fi
}
sampler_stop() { if [ -n "${SAMPLER:-}" ]; then kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; fi; }

# 1. the backend featbus picks without KERAS_BACKEND (a fresh machine has no keras.json)
step default_backend 20 env -u KERAS_BACKEND "$PY" -c \
    "from featbus.networks.backend import wanted_backend; print('featbus default backend:', wanted_backend())"
# 2. the default recipe on JAX: a fresh process with an empty compilation cache, then a second one
for run in fresh warm; do
    sampler_start "$W/util_$run.csv"
    limit=$([ "$run" = fresh ] && echo 140 || echo 70)  # measured on an H200: 121 s fresh (run 5)
    step "train_jax_$run" "$limit" env KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR="$CACHE" \
        "$PY" -m featbus train "$DATA" ${TRAIN_ARGS[@]+"${TRAIN_ARGS[@]}"} -o "$TMPD/jax_$run.featbus" --overwrite --quiet
    sampler_stop
done
# 3. backend_speed rows: PyTorch and JAX in bfloat16 (the GPU default; float32 on a CPU)
for b in jax torch; do  # JAX first: its row is the aim's (featbus over the bare loop >= 0.8)
    step "backend_speed_$b" "$([ "$b" = jax ] && echo 150 || echo 100)" "$PY" -u benchmarks/backend_speed.py \
        --backends "$b" ${SPEED_ARGS[@]+"${SPEED_ARGS[@]}"} --output "$W/backend_speed_$b.json"
done

# the rows, put into a copy of the repository's backend_speed_gpu.json
"$PY" - "$W" "$TMPD" "$DRY" <<'PY'
import csv, json, os, re, sys
from pathlib import Path

w, models, dry = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
repo_file = Path("benchmarks/results/backend_speed_gpu.json")
result = json.loads(repo_file.read_text()) if repo_file.exists() else {}


def busy(name):
    path = w / f"util_{name}.csv"
    rows = list(csv.reader(path.open())) if path.exists() else []
    values = [float(r[1]) for r in rows if len(r) > 2 and r[1].strip().replace(".", "", 1).isdigit()]
    return {"mean": sum(values) / len(values) if values else None, "max": max(values, default=None),
            "samples": len(values)}


def training(name):
    """The model file's record of its network's training (history of the first member)."""
    from featbus import load_model

    t = load_model(models / f"jax_{name}.featbus", warm_up=False).manifest["training"]
    h = t["members"][0]
    epochs = h["epochs"]
    timed = sum(e["seconds"] for e in epochs[1:])
    kept = next((e for e in epochs if e.get("epoch") == h.get("best_epoch")), epochs[-1])
    return {"device": t["device"], "backend": t["backend"], "training_s": h["seconds"], "epochs": len(epochs),
            "val_accuracy_kept_epoch": kept.get("val_accuracy"), "mixed_precision": t.get("mixed_precision"),
            "n_train": h["n_train"], "first_epoch_s": epochs[0]["seconds"],
            "images_per_s": h["n_train"] * (len(epochs) - 1) / timed if timed else None}


log = (w / "log.txt").read_text()
found = re.search(r"featbus default backend: (\w+)", log)
row = {"command": "KERAS_BACKEND=jax featbus train BUSI (the default recipe): a fresh process with an empty "
                  "compilation cache, then a second process with it warm",
       "data": os.environ.get("DATA_NOTE", ""), "featbus_default_backend": found.group(1) if found else None,
       "units": {"training_s": "seconds of the network's training (the model file's history), compiling included",
                 "images_per_s": "training images per second over the epochs after the first",
                 "gpu_busy_percent": "mean of nvidia-smi's utilization.gpu (% of the time a kernel ran) over "
                                     "the training process, sampled every 0.5 s"}}
for run in ("fresh", "warm"):
    suffix = "" if run == "fresh" else "_warm_cache"
    try:
        t = training(run)
    except Exception as exc:  # the step failed or was cut: say so in the file
        row[f"error{suffix}"] = f"{type(exc).__name__}: {exc}"
        continue
    if run == "fresh":
        row.update(device=t["device"], backend=t["backend"], epochs=t["epochs"], n_train=t["n_train"])
    row[f"training_s{suffix}"] = t["training_s"]
    row[f"first_epoch_s{suffix}"] = t["first_epoch_s"]
    row[f"images_per_s{suffix}"] = t["images_per_s"]
    row[f"val_accuracy_kept_epoch{suffix}"] = t["val_accuracy_kept_epoch"]  # the held-out split's, as a check
    b = busy(run)
    row[f"gpu_busy_percent{suffix}"] = b["mean"]
    row[f"gpu_busy_percent_max{suffix}"] = b["max"]
    row[f"gpu_busy_samples{suffix}"] = b["samples"]
step_s = {m.group(1): int(m.group(3)) for m in re.finditer(r"^(\w+): exit (\d+) after (\d+) s", log, re.M)}
row["process_s"] = step_s.get("train_jax_fresh")
row["process_s_warm_cache"] = step_s.get("train_jax_warm")
result["default_recipe_jax"] = row
runs = {b: json.loads((w / f"backend_speed_{b}.json").read_text())
        for b in ("jax", "torch") if (w / f"backend_speed_{b}.json").exists()}
if not runs:  # both steps failed or were cut: no rows of an earlier run pass for this one's
    result["backends_before_this_run"] = result.pop("backends", {})
    result["backends"] = {}
    result["failed"] = {"backend_speed": "no results (see log.txt)"}
else:
    rows = {b: r for run in runs.values() for b, r in run.get("backends", {}).items()}
    result["backends"] = rows
    result["failed"] = {b: runs.get(b, {}).get("failed", {}).get(b) or "no results (see log.txt)"
                        for b in ("jax", "torch") if b not in rows}
    first = next(iter(runs.values()))
    result["command"] = first.get("command", "").replace("--backends jax", "--backends jax (then torch)")
    result["jax_over_torch_time_per_image"] = (rows["jax"]["featbus_seconds_per_image"]
                                               / rows["torch"]["featbus_seconds_per_image"]
                                               if "jax" in rows and "torch" in rows else None)
    result["gpu"] = first.get("gpu")
    result["machine"] = first.get("machine")
result["data"] = os.environ.get("DATA_NOTE", result.get("data"))
if dry:
    result["dry_run"] = "scripts/gpu_measurements.sh --dry-run: tiny sizes, not a measurement to quote"
out = w / "backend_speed_gpu.json"
out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
print(json.dumps(row, indent=1))
PY
rm -rf "$TMPD"
echo "results in $W"
