"""``featbus validate breast-us`` and ``featbus predict breast-us`` with the Keras forward (before) and
the default runtime (after, LiteRT where installed), as a user types them, in one run.

For each round, the commands run in this order, each in its own process as typed::

    featbus validate breast-us DATA --runtime keras --quiet
    featbus validate breast-us DATA --quiet
    featbus predict breast-us FOLDER --runtime keras --quiet -o before.csv
    featbus predict breast-us FOLDER --quiet -o after.csv

and it records each one's wall seconds and CPU seconds (the child's, every thread: the steadier
figure on a machine shared with other work), the speed-ups (keras / default), and the diffs: the
validate reports compared line by line, every number within one unit of its last printed digit
(class probabilities agree within ``RUNTIME_PROBA_ATOL``, so a rounded figure can move by one
unit), and the predict tables compared row by row (the same predicted class and lesion box,
probabilities within ``featbus.model.runtime.RUNTIME_PROBA_ATOL``). Before the first round one ``featbus predict`` on a
single image converts the networks into featbus's cache (once per machine; its time is recorded
apart), so the rounds time what every later run does.

Then the networks alone (skipped with ``--no-networks``): in a process of their own, the shipped
segmenter's maps (two passes per frame: the frame and its mirror image, as the model averages
them) and the feature network's rows through the default runtime, CPU seconds per frame
(:func:`network_cpu`). Times the frames validate read, they split the default validate's CPU
seconds into the networks' share and the rest (reading, the image check, the label-conflict
hashing, the bootstrap, imports); the Keras run's CPU seconds over that share is the most the
speed-up could be were the rest nothing.

Data: BUS-BRA (809 whole frames, ``../shared/data/bus-bra``) for validate, BUSI's malignant folder
(169 frames) for predict.

Run from the repository root::

    python benchmarks/validate_runtime.py              # one round (about 10 min on 2 shared cores)
    python benchmarks/validate_runtime.py --rounds 2

Writes ``benchmarks/results/validate_runtime.json`` through :func:`featbus.io.write_file`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FEATBUS_DATA") or REPO.parent / "shared" / "data")
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "validate_runtime.json"
NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")


def run(args: list[str]) -> tuple[str, float, float]:
    """``featbus ARGS`` in a new process: its stdout, wall seconds and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "featbus", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"featbus {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, wall, cpu


def report_diff(a: str, b: str) -> dict:
    """Lines of two reports that differ beyond one unit of their last printed digit."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return {"same_lines": False, "differ": [f"{len(la)} lines against {len(lb)}"]}
    differ, moved = [], 0
    for x, y in zip(la, lb):
        if x == y:
            continue
        if NUMBER.sub("#", x) != NUMBER.sub("#", y):
            differ.append(f"{x!r} | {y!r}")
            continue
        for u, v in zip(NUMBER.findall(x), NUMBER.findall(y)):
            unit = 10.0 ** -(len(u.split(".")[1]) if "." in u else 0)
            if abs(float(u) - float(v)) > unit + 1e-12:
                differ.append(f"{x!r} | {y!r}")
                break
        else:
            moved += 1
    return {"same_lines": True, "lines": len(la), "lines_with_a_last_digit_moved": moved, "differ": differ}


def table_diff(a: str, b: str, atol: float) -> dict:
    """Rows of two predict tables: same images and classes, probabilities within ``atol``."""
    ra, rb = list(csv.DictReader(io.StringIO(a))), list(csv.DictReader(io.StringIO(b)))
    cols = [c for c in (ra[0] if ra else {}) if c.startswith("p_")]
    worst, classes, boxes = 0.0, 0, 0
    for x, y in zip(ra, rb):
        classes += x.get("predicted") != y.get("predicted")
        boxes += x.get("roi_box") != y.get("roi_box")
        for c in cols:
            if x[c] and y[c]:
                worst = max(worst, abs(float(x[c]) - float(y[c])))
    # the table prints 4 decimals: a probability within atol may print up to atol + half a unit apart
    return {"rows": len(ra), "same_rows": len(ra) == len(rb), "class_changed": classes, "roi_box_changed": boxes,
            "max_probability_diff": round(worst, 6),
            "within_tolerance": len(ra) == len(rb) and classes == 0 and worst <= atol + 5e-5}


def network_cpu(n: int = 32, rounds: int = 3) -> dict:
    """CPU seconds per frame of the shipped model's networks through the default runtime (LiteRT),
    as the command runs them, measured in a process of their own (no TensorFlow in it, as in the
    command) on ``n`` random inputs per round (the values do not change the work): the segmenter
    through its own maps function (its mirror pass included), the feature network through its
    forward. (The Keras forward is not timed so: TensorFlow's pools keep their threads spinning
    after a call, which a process's CPU seconds count into whatever runs next.)"""
    import numpy as np

    from featbus.model.loaded import load_model
    from featbus.model.runtime import network_estimators

    model = load_model("breast-us")
    seg = model.roi.segmenter_
    (_, feat), = network_estimators(model)
    s = int(seg.input_size)
    rng = np.random.default_rng(0)
    maps_in = rng.random((n, s, s, 1), dtype=np.float32)
    rows_in = (255 * rng.random((n, *feat.input_size_), dtype=np.float32)).astype(np.float32)
    seg_lite, feat_lite = seg._lite("litert"), feat._lite()
    jobs = {"segmenter": lambda: seg._network_maps(maps_in, forward=seg_lite), "features": lambda: feat_lite(rows_in)}
    for job in jobs.values():  # the first call of each builds what it needs: not timed
        job()
    cpu = dict.fromkeys(jobs, 0.0)
    for _ in range(rounds):
        for key, job in jobs.items():
            c0 = time.process_time()
            job()
            cpu[key] += time.process_time() - c0
    return {"inputs_per_round": n, "rounds": rounds, "segmenter_passes_per_frame": 2 if seg._tta() else 1,
            "tensorflow_imported": "tensorflow" in sys.modules,
            "cpu_s_per_frame": {key: round(v / (rounds * n), 4) for key, v in cpu.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA / "bus-bra")
    ap.add_argument("--predict-folder", type=Path, default=DATA / "busi" / "Dataset_BUSI_with_GT" / "malignant")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    ap.add_argument("--no-networks", dest="networks", action="store_false",
                    help="skip the networks-alone measurement")
    ap.add_argument("--networks-only", action="store_true", help=argparse.SUPPRESS)  # the measurement's process
    args = ap.parse_args(argv)
    if args.networks_only:
        print(json.dumps(network_cpu()))
        return

    from featbus.io import write_file
    from featbus.model.runtime import RUNTIME_PROBA_ATOL

    frames = sorted(p for p in args.predict_folder.glob("*.png") if "_mask" not in p.name)
    print(f"validate on {args.data}, predict on {args.predict_folder} ({len(frames)} frames); "
          f"{args.rounds} round(s), load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        _, wall, cpu = run(["predict", "breast-us", str(frames[0]), "--quiet", "-o", f"{tmp}/warm.csv"])
        warm = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        print(f"first run (converts the networks once into featbus's cache, or reads them): {wall:.1f} s", flush=True)
        times: dict[str, list[dict]] = {}
        outputs: dict[str, str] = {}
        for r in range(args.rounds):
            for what, extra in (("validate keras", ["--runtime", "keras"]), ("validate", [])):
                out, wall, cpu = run(["validate", "breast-us", str(args.data), "--quiet", *extra])
                times.setdefault(what, []).append({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)})
                outputs[what] = out
                print(f"round {r + 1}: {what}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            for what, extra in (("predict keras", ["--runtime", "keras"]), ("predict", [])):
                csv_path = Path(tmp) / f"{what.replace(' ', '_')}.csv"
                _, wall, cpu = run(["predict", "breast-us", str(args.predict_folder), "--quiet", "--overwrite",
                                    "-o", str(csv_path), *extra])
                times.setdefault(what, []).append({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)})
                outputs[what] = csv_path.read_text()
                print(f"round {r + 1}: {what}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)

    def speedup(before: str, after: str, key: str) -> float:
        return round(statistics.median(b[key] / a[key] for b, a in zip(times[before], times[after])), 2)

    networks = None
    if args.networks:
        proc = subprocess.run([sys.executable, __file__, "--networks-only"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
        networks = json.loads(proc.stdout.strip().splitlines()[-1])
        frames_read = int(re.search(r"^(\d+) images of", outputs["validate"], re.M).group(1))
        per = networks["cpu_s_per_frame"]
        share = frames_read * (per["segmenter"] + per["features"])
        default_cpu, keras_cpu = (statistics.median(t["cpu_s"] for t in times[w])
                                  for w in ("validate", "validate keras"))
        networks.update({
            "validate_frames": frames_read,
            "validate_networks_cpu_s": round(share, 1),
            "validate_rest_cpu_s": round(default_cpu - share, 1),
            "best_cpu_speedup_with_nothing_else": round(keras_cpu / share, 2)})
        print(f"the default's networks alone, {frames_read} frames: {share:.1f} of validate's {default_cpu:.1f} CPU s "
              f"(the rest {default_cpu - share:.1f}); with nothing else, validate could be at most "
              f"{keras_cpu / share:.2f}x the Keras run's {keras_cpu:.1f} CPU s", flush=True)

    result = {
        "benchmark": "validate_runtime",
        "commands": {
            "validate before": f"featbus validate breast-us {args.data} --runtime keras --quiet",
            "validate after": f"featbus validate breast-us {args.data} --quiet",
            "predict before": f"featbus predict breast-us {args.predict_folder} --runtime keras --quiet -o CSV",
            "predict after": f"featbus predict breast-us {args.predict_folder} --quiet -o CSV"},
        "n_predict_frames": len(frames), "rounds": args.rounds, "cpu_count": os.cpu_count(),
        "first_run": warm, "runs": times,
        "speedup_keras_over_default": {
            "validate wall": speedup("validate keras", "validate", "wall_s"),
            "validate cpu": speedup("validate keras", "validate", "cpu_s"),
            "predict wall": speedup("predict keras", "predict", "wall_s"),
            "predict cpu": speedup("predict keras", "predict", "cpu_s")},
        "validate_report_diff": report_diff(outputs["validate keras"], outputs["validate"]),
        "predict_table_diff": table_diff(outputs["predict keras"], outputs["predict"], RUNTIME_PROBA_ATOL),
        "networks_alone": networks,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    print(json.dumps({k: result[k] for k in ("speedup_keras_over_default", "validate_report_diff",
                                              "predict_table_diff")}, indent=1))
    write_file(args.output, json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
