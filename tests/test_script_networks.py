"""A user's network builder defined in the script that runs (``__main__``) works wherever a builder
is accepted, and a model file holding it refuses to save in one line, saying to put the builder in an
importable module (issue 55). The script runs in a subprocess, as a user runs theirs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # trains or builds networks (python -m pytest -m "not slow" leaves it out)

pytest.importorskip("keras")

SCRIPT = textwrap.dedent('''
    import numpy as np
    import keras

    from featbus import DeepFeatures, FineTunedCNN, make_phantoms
    from featbus.workflows.training import train_model


    def small_cnn(input_shape):
        inputs = keras.Input(input_shape)
        x = keras.layers.Rescaling(1 / 255.0)(inputs)
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(inputs, x)


    data = make_phantoms(12, image_size=40, random_state=0)
    rows = DeepFeatures(backbone=small_cnn, input_size=32, cache=False, progress=False).fit_transform(data.data)
    print("deep", rows.shape)
    ft = FineTunedCNN(backbone=small_cnn, input_size=32, epochs=1, warmup_epochs=0, batch_size=4,
                      validation_fraction=0, progress=False, random_state=0, cache=False).fit(data.data, data.target)
    print("finetune", ft.transform(data.data).shape, len(ft.predict(data.data[:2])))
    model = train_model(data, [("mine", DeepFeatures(backbone=small_cnn, input_size=32))], classifier="logreg",
                        cross_validate=False, progress=False)
    try:
        model.save("mine.featbus", runtime=False)
    except ValueError as exc:
        print("refused:", exc)
''')


def test_a_builder_defined_in_the_script(tmp_path):
    script = tmp_path / "my_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "FEATBUS_TRUSTED_MODELS": str(tmp_path / "trusted.txt")}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "deep (12, 16)" in lines and "finetune (12, 16) 2" in lines, run.stdout
    refusal = [ln for ln in lines if ln.startswith("refused:")]
    assert len(refusal) == 1, run.stdout
    assert "small_cnn" in refusal[0] and "__main__" in refusal[0] and "importable module" in refusal[0]
    assert not (tmp_path / "mine.featbus").exists()


def test_only_functions_another_process_cannot_import_are_refused():
    from sklearn.preprocessing import FunctionTransformer

    from featbus.model.format import check_saveable
    from featbus.networks import mobilenet_v2_small

    check_saveable({"features": FunctionTransformer(mobilenet_v2_small)})  # importable: kept as today

    def local(x):
        return x

    with pytest.raises(ValueError, match=r"local.*inside another function.*importable module"):
        check_saveable({"features": FunctionTransformer(local)})
