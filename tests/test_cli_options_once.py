"""Every option several commands take is declared once (featbus/cli/_options.py, pip's
cmdoptions habit): one flag, one type, one default across commands."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

import featbus.cli
from featbus.cli import build_parser
from featbus.cli._options import N_BOOTSTRAP

CLI = Path(featbus.cli.__file__).parent


def _subparsers(parser):
    """{"train": parser, "segment train": parser, ...}"""
    out = {}
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            if sub._subparsers is not None:
                out.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
            else:
                out[name] = sub
    return out


def _action(parser, flag):
    return next((a for a in parser._actions if flag in a.option_strings), None)


#: one flag, two meanings (not one option declared twice)
OTHER_MEANING = {
    "--data": 2,  # app: folders the page may open (repeatable); demo: the data set to run on
    "--recipe": 2,  # train: a classification recipe; segment train: a segmenter recipe
    "--image-size": 2,  # demo: the side of the phantoms it makes; train/segment: --input-size's former name
}


def test_each_long_option_is_declared_once():
    declared = Counter()
    for path in CLI.glob("*.py"):
        declared.update(re.findall(r"add_argument\(\s*\"(--[a-z-]+)\"", path.read_text(encoding="utf-8")))
    twice = {flag: n for flag, n in declared.items() if n > OTHER_MEANING.get(flag, 1)}
    assert not twice, f"options declared more than once in featbus/cli: {twice}"


def test_one_n_bootstrap_default():
    commands = _subparsers(build_parser())
    found = {name: _action(p, "--n-bootstrap").default for name, p in commands.items() if _action(p, "--n-bootstrap")}
    assert {"evaluate", "train", "validate", "adapt", "demo", "segment evaluate"} <= set(found)
    assert set(found.values()) == {N_BOOTSTRAP} == {1000}


@pytest.mark.parametrize("command", ["train", "segment train"])
def test_input_size_is_the_one_name(command, capsys):
    parser = _subparsers(build_parser())[command]
    assert _action(parser, "--input-size").dest == _action(parser, "--image-size").dest == "input_size"
    parser.print_help()
    text = capsys.readouterr().out
    assert "--input-size PX" in text and "--image-size" not in text  # the former name works, unlisted
    required = ["DATA", "-o", "out.featbus"] if command == "train" else ["DATA", "-o", "seg.keras"]
    for flag in ("--input-size", "--image-size"):
        assert parser.parse_args([*required, flag, "64"]).input_size == 64


def test_train_names_input_size_in_its_refusal(tmp_path, capsys):
    from featbus.cli import main

    assert main(["train", str(tmp_path), "-f", "intensity", "--image-size", "64", "-o",
                 str(tmp_path / "m.featbus")]) == 2
    assert "--input-size set a network recipe's training" in capsys.readouterr().err


def test_every_command_refuses_a_negative_n_bootstrap_with_the_one_check(capsys):
    """``--n-bootstrap`` is checked where it is declared (_options._resamples), for every command."""
    commands = _subparsers(build_parser())
    taking = [name for name, p in commands.items() if _action(p, "--n-bootstrap")]
    assert {"validate", "compare", "adapt", "segment evaluate"} <= set(taking)
    for name in taking:
        action = _action(commands[name], "--n-bootstrap")
        assert action.type("0") == 0 and action.type("25") == 25
        with pytest.raises(Exception, match="must be 0 or more, got -1"):
            action.type("-1")
    with pytest.raises(SystemExit) as exc:
        featbus.cli.main(["validate", "breast-us", "DATA", "--n-bootstrap", "-3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --n-bootstrap: must be 0 or more, got -3" in err and "Traceback" not in err


def test_the_start_up_and_its_refusals_are_written_once():
    """The commands that read images and a model start through cli/_startup.py (data, then models),
    the --overwrite refusal is written once in featbus (featbus.io.refuse_existing, for the commands and
    the library alike), and the bootstrap count is checked in two places: the commands' --n-bootstrap
    and the library's check_n_bootstrap."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in CLI.glob("*.py")}
    everything = "\n".join(texts.values())
    library = "\n".join(p.read_text(encoding="utf-8") for p in CLI.parent.rglob("*.py"))
    assert library.count("already exists; pass") == 1 and library.count("already holds {', '.join(taken)}") == 1
    assert library.count("raise FileExistsError(f") == 2  # a file that exists, a folder holding files
    assert everything.count("must be 0 or more") == 1 and "n_bootstrap < 0" not in everything
    assert library.count("n_bootstrap < 0") == 1  # featbus.metrics.check_n_bootstrap
    for command in ("validate", "compare", "adapt", "predict"):
        assert re.search(r"\bstart\(args, ", texts[f"{command}.py"]), command
        assert "_load_model_cli(" not in texts[f"{command}.py"] and "_load_folder(" not in texts[f"{command}.py"]
    assert "refuse_other_kind(" in texts["_startup.py"] and "check_images(" not in texts["adapt.py"]


@pytest.mark.parametrize("command", [["validate", "breast-us", "{data}"], ["predict", "breast-us", "{data}"],
                                     ["compare", "breast-us", "{model2}", "{data}"]])
def test_a_missing_keras_is_said_before_the_data_is_read(command, tmp_path, monkeypatch, capsys):
    """The shipped classifier needs Keras (its segmenter): without it, the one line naming the extra
    comes at once, not after minutes of reading DATA."""
    import featbus.datasets
    import featbus.networks.backend as backend
    from featbus.cli._options import _model_spec

    def not_read(*args, **kwargs):
        raise AssertionError("DATA was read before the model's needs were checked")

    monkeypatch.setattr(backend, "_keras_found", lambda: False)
    monkeypatch.setattr(featbus.datasets, "load_data", not_read)
    model2 = tmp_path / "copy.featbus"
    model2.write_bytes(Path(_model_spec("breast-us")).read_bytes())
    (tmp_path / "data").mkdir()
    from PIL import Image

    Image.new("L", (32, 32), 90).save(tmp_path / "data" / "frame.png")  # predict lists its images first
    words = [w.format(data=tmp_path / "data", model2=model2) for w in command]
    assert featbus.cli.main(words) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "featbus[' in err[0] and "needs Keras" in err[0], err
