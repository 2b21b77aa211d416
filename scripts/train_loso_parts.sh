#!/bin/bash
# Leave one site out: for each shared ultrasound site, the breast-us backbone and segmenter trained
# without it (the shipped recipes), and with BUSI held out the presence fine-tune of that segmenter.
# The three sites run side by side; one GPU did all of it in 6.7 min (H200, 16 cores); on 2 CPU
# cores each backbone alone takes about 25 min and each segmenter longer: hours. Outputs in OUT_DIR (default loso/): loso_SITE.npz, seg_loso_SITE.keras,
# seg_presence_busi.keras, each with its .json card data, and log_*.txt.
#
#   bash scripts/train_loso_parts.sh OUT_DIR
#
# Read by benchmarks/site_alignment.py --loso-dir OUT_DIR and benchmarks/presence_score.py
# --cache-dir OUT_DIR. Data: featbus.get_data_home() (FEATBUS_DATA), e.g. the copy that
# scripts/pack_sites.py unpacks on a GPU machine. Set DEADLINE (seconds per site, default none).
set -u
W=${1:-loso}; mkdir -p "$W"
chain() {
    local s=$1
    python -u scripts/train_breast_us.py --hold-out "$s" -o "$W/loso_$s.npz" > "$W/log_backbone_$s.txt" 2>&1 \
        || { echo "backbone without $s failed: $W/log_backbone_$s.txt"; return 1; }
    python -u scripts/train_segmenter_breast_us.py --hold-out "$s" --encoder-weights "$W/loso_$s.npz" \
        -o "$W/seg_loso_$s.keras" > "$W/log_seg_$s.txt" 2>&1 \
        || { echo "segmenter without $s failed: $W/log_seg_$s.txt"; return 1; }
    if [ "$s" = busi ]; then
        python -u scripts/train_presence_breast_us.py --hold-out busi --segmenter "$W/seg_loso_busi.keras" \
            -o "$W/seg_presence_busi.keras" > "$W/log_presence_busi.txt" 2>&1 \
            || { echo "presence fine-tune failed: $W/log_presence_busi.txt"; return 1; }
    fi
    echo "parts without $s done"
}
# what the parts trained on, for the results files that use them (LOSO_DATA_NOTE: e.g. the pack's words)
python - "$W/parts.json" <<'PY'
import json, os, platform, sys, time
from featbus import get_data_home
json.dump({"data": os.environ.get("LOSO_DATA_NOTE") or f"the shared sites in {get_data_home()}",
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "started": time.strftime("%Y-%m-%d %H:%M")},
          open(sys.argv[1], "w"), indent=1)
PY
pids=()
for s in busi bus-bra breast-lesions-usg; do
    if [ -n "${DEADLINE:-}" ]; then (export -f chain; export W; timeout "$DEADLINE" bash -c "chain $s") &
    else chain "$s" & fi
    pids+=($!)
done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
