"""The first training's settings (issue 92): the XLA flags featbus sets only where the user set none, the
recipe's precision as a choice (``featbus train --mixed-precision``), and the GPU script's rows as
``benchmarks/first_training.py`` collects them (its ``--dry-run`` runs the whole script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

DEFAULTS = """
import json, os, sys
import featbus.networks.backend as b
b.GPU_XLA_FLAGS = ("--xla_gpu_autotune_level=0",)
b._jax_gpu_plugin_installed = lambda: sys.argv[1] == "plugin"
jax_before = "jax" in sys.modules
b._default_xla_flags()
print(json.dumps({"jax_before": jax_before, "xla_flags": os.environ.get("XLA_FLAGS")}))
"""


def _defaults(env_flags: str | None, plugin: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if env_flags is not None:
        env["XLA_FLAGS"] = env_flags
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-c", DEFAULTS, "plugin" if plugin else "none"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_measured_xla_flags_only_where_the_user_set_none():
    out = _defaults(None, plugin=True)
    assert not out["jax_before"]  # the backend module imports no JAX: the flags can still apply
    assert out["xla_flags"] == "--xla_gpu_autotune_level=0"
    assert _defaults("--xla_gpu_autotune_level=4", plugin=True)["xla_flags"] == "--xla_gpu_autotune_level=4"
    assert _defaults("", plugin=True)["xla_flags"] == ""  # empty: XLA's own defaults, the user's choice
    assert _defaults(None, plugin=False)["xla_flags"] is None  # no JAX GPU plugin: nothing to set


def test_no_gpu_row_measured_yet_keeps_todays_defaults():
    from featbus.networks import backend

    assert backend.GPU_XLA_FLAGS == ()
    assert backend.AUTO_BFLOAT16_ON_GPU is True
    assert backend.use_mixed_precision(False) is False and backend.use_mixed_precision(True) is True


def test_the_recipe_precision_is_a_setting():
    pytest.importorskip("keras")
    from featbus.pipelines.recipes import build_network, get_recipe

    recipe = get_recipe("finetuned-lite0")
    assert build_network(recipe).mixed_precision == "auto"
    assert build_network(recipe, overrides={"mixed_precision": False}).mixed_precision is False
    with pytest.raises(ValueError, match="mixed_precision must be"):
        build_network(recipe, overrides={"mixed_precision": "half"})


def test_mixed_precision_is_refused_for_features_and_a_classifier(tmp_path, capsys):
    from featbus.cli import main
    from featbus.datasets.sample import SAMPLE_DIR

    status = main(["train", str(SAMPLE_DIR), "-f", "intensity", "-c", "logistic", "--mixed-precision", "off",
                   "-o", str(tmp_path / "m.featbus")])
    err = capsys.readouterr().err
    assert status == 2
    assert "--mixed-precision sets a network recipe's precision" in err and "Traceback" not in err
    assert not (tmp_path / "m.featbus").exists()


def test_rows_collected_in_order_with_the_steps_not_run(tmp_path):
    from first_training import best_setting, collect

    rows = tmp_path / "rows"
    rows.mkdir()
    (rows / "plan.json").write_text(json.dumps({"order": ["xla_defaults", "autotune_0", "warm_best"],
                                                "candidates": ["xla_defaults", "autotune_0"]}))
    (rows / "probe.json").write_text(json.dumps({"cold_jit_s": 0.2, "flags": {"--xla_gpu_autotune_level=0": True}}))
    (rows / "autotune_0.json").write_text(json.dumps({"name": "autotune_0", "finished": True, "training_s": 12.0,
                                                      "device": "gpu:0 (H200)"}))
    (rows / "xla_defaults.json").write_text(json.dumps({"name": "xla_defaults", "finished": True,
                                                        "training_s": 100.0, "device": "gpu:0 (H200)"}))
    (rows / "skipped.tsv").write_text("warm_best\tthe 480 s budget was spent\n")
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"backends": {"jax": {"featbus_images_per_s": 1.0}}}))
    out = tmp_path / "out" / "result.json"
    speed = tmp_path / "backend_speed_jax.json"
    speed.write_text(json.dumps({"command": "python benchmarks/backend_speed.py --backends jax",
                                 "backends": {"jax": {"featbus_over_bare": 0.7}}, "failed": {}}))
    collect(rows, out, base, dry=False, speed=speed)
    result = json.loads(out.read_text())
    assert result["backends"] == {"jax": {"featbus_images_per_s": 1.0}}  # the base file's rows kept
    section = result["first_training"]
    assert [r["name"] for r in section["rows"]] == ["xla_defaults", "autotune_0"]
    assert section["not_run"] == {"warm_best": "the 480 s budget was spent"}
    assert section["best_fresh"] == "autotune_0"
    assert section["probe"]["cold_jit_s"] == 0.2
    assert section["devices"] == ["gpu:0 (H200)"]
    assert "dry_run" not in section
    assert section["featbus_over_bare"]["backends"]["jax"]["featbus_over_bare"] == 0.7
    assert "featbus_over_bare" not in collect(rows, out, base, dry=True)  # backend_speed did not run
    assert json.loads(out.read_text())["first_training"]["dry_run"]
    assert best_setting({"a": {"finished": False, "training_s": 1.0}}, ["a"]) is None
