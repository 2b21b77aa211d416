"""``featbus demo`` declares --features/--region through the shared parent (cli/_options.py), as
extract and evaluate do, so it takes a --params settings file too."""

from __future__ import annotations

import json

from featbus.cli import build_parser, main


def _options(command: str) -> dict[str, tuple]:
    sub = build_parser([command])._subparsers._group_actions[0].choices[command]
    return {a.dest: tuple(a.option_strings) for a in sub._actions}


def test_demo_feature_options_are_the_shared_ones():
    demo, evaluate = _options("demo"), _options("evaluate")
    for dest in ("features", "region", "params"):
        assert demo[dest] == evaluate[dest]


def test_demo_reads_a_settings_file(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"features": {"intensity": {}}}))
    assert main(["demo", "--params", str(params), "--n-samples", "30", "--image-size", "48",
                 "--n-bootstrap", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "pipeline: features intensity (on the whole image)" in out
