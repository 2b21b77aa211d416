#!/bin/bash
# Issue 76's measurements on one GPU machine, in one call of at most 9.3 minutes (each step has a time
# limit; 16 cores, one H100 or H200; run it with the device tool's timeout_s=600): the fine-tuning input side alone on this machine's cores, the default recipe's training
# speed with the GPU's utilisation sampled beside it, backend_speed.py's rows for PyTorch and JAX
# (bfloat16, the GPU default) and PyTorch in float32 beside them, and frozen DeepFeatures against a
# bare model.predict. Outputs in OUT_DIR (default gpu/):
#
#   input_speed.json           benchmarks/input_speed.py on this machine (one core / all cores)
#   backend_speed_gpu.json     backend_speed.py's rows (device names the GPU, gpu_utilisation_mean),
#                              the float32 row beside them and the default recipe's row
#                              (default_recipe: training images/s, GPU utilisation): what
#                              benchmarks/results/backend_speed_gpu.json and the recipes' gpu_time quote
#   util_train.csv             nvidia-smi samples (1 s) during `featbus train`
#   log.txt                    each step's output, one after another (a device call brings back 8 files)
#
# The trained model goes to a temporary folder (MODEL_DIR, default /tmp), not OUT_DIR. PYTHON names
# the interpreter (default python3, the one holding PyTorch on the lent GPU machines).
#
#   bash scripts/gpu_measurements.sh OUT_DIR
#
# Needs featbus importable with Keras on PyTorch and JAX (no TensorFlow needed), nvidia-smi, and BUSI
# under featbus.get_data_home() (FEATBUS_DATA), e.g. `python scripts/pack_sites.py unpack sites.tar
# /tmp/data` (a 224 px JPEG copy: the results say which data they saw, DATA_NOTE). Each step has
# its own time limit, so a slow step leaves the others' results.
set -u
W=${1:-gpu}; mkdir -p "$W"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
PY=${PYTHON:-python3}
MODEL=${MODEL_DIR:-/tmp}/featbus_gpu_default_torch.featbus
DATA=$("$PY" -c "from featbus import get_data_home; print(get_data_home())")
step() {  # step NAME SECONDS COMMAND...: run it, its output appended to log.txt, say how it ended
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "===== $name: $*" >> "$W/log.txt"
    timeout "$limit" "$@" >> "$W/log.txt" 2>&1
    local rc=$?
    echo "$name: exit $rc after $((SECONDS - t0)) s" | tee -a "$W/log.txt"
}
# 1. the input side alone, every core of this machine against one
step input_speed 75 "$PY" -u benchmarks/input_speed.py --repeats 1 --output "$W/input_speed.json"
# 2. the default recipe on PyTorch, GPU utilisation sampled beside it (away from the step's output)
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -l 1 \
    > "$W/util_train.csv" 2>/dev/null &
sampler=$!
train_start=$SECONDS
step train 150 env KERAS_BACKEND=torch "$PY" -m featbus train "$DATA/busi" -o "$MODEL" --overwrite
train_wall=$((SECONDS - train_start))
kill "$sampler" 2>/dev/null
# 3. backend_speed rows: PyTorch and JAX in bfloat16 (the GPU default), PyTorch in float32 beside them
step backend_speed 180 "$PY" -u benchmarks/backend_speed.py --backends torch,jax --n-images 256 --epochs 3 \
    --output "$W/backend_speed_gpu.json"
step backend_speed_fp32 75 "$PY" -u benchmarks/backend_speed.py --backends torch --n-images 256 --epochs 3 \
    --mixed-precision off --output "$W/backend_speed_fp32.json"
# 4. frozen DeepFeatures against a bare model.predict (and the engine against model.fit), PyTorch
step finetune_speed 75 env KERAS_BACKEND=torch "$PY" -u benchmarks/finetune_speed.py --n-images 128 --size 224 \
    --epochs 2
# the default recipe's row and the float32 row, into backend_speed_gpu.json
"$PY" - "$W" "$train_wall" "$MODEL" <<'PY'
import csv, json, os, sys
from pathlib import Path

w, wall, model = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
out = w / "backend_speed_gpu.json"
result = json.loads(out.read_text()) if out.exists() else {"backends": {}}
util = [float(r[1]) for r in csv.reader((w / "util_train.csv").open()) if len(r) > 2 and r[1].strip().isdigit()] \
    if (w / "util_train.csv").exists() else []
row = {"command": "KERAS_BACKEND=torch featbus train BUSI (the default recipe)", "wall_s": wall,
       "data": os.environ.get("DATA_NOTE", "BUSI as featbus.get_data_home() holds it"),
       "gpu_utilisation_mean": sum(util) / len(util) if util else None, "gpu_utilisation_max": max(util, default=None),
       "gpu_utilisation_samples": len(util)}
try:
    from featbus import load_model

    manifest = load_model(model, warm_up=False).manifest
    training = manifest["training"]
    h = training["members"][0]
    epochs = h["epochs"]
    timed = sum(e["seconds"] for e in epochs[1:])
    row.update(device=training["device"], backend=training["backend"], epochs=len(epochs), n_train=h["n_train"],
               training_s=h["seconds"], images_per_s=h["n_train"] * (len(epochs) - 1) / timed if timed else None,
               first_epoch_s=epochs[0]["seconds"])
except Exception as exc:  # the training step failed or was cut: say so in the file
    row["error"] = f"{type(exc).__name__}: {exc}"
result["default_recipe"] = row
fp32 = w / "backend_speed_fp32.json"
if fp32.exists():
    result["float32"] = json.loads(fp32.read_text()).get("backends", {})
out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
print(json.dumps(row, indent=1))
PY
echo "results in $W"
