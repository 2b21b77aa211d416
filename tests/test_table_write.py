"""featbus.io.write_feature_table writes the table the plain pandas/pyarrow way writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")

from featbus.io import write_feature_table  # noqa: E402


def _table(n=7, f=5):
    rng = np.random.default_rng(0)
    labels = ["benign", "normal"] * (n // 2) + ["x"] * (n % 2)
    meta = pd.DataFrame({"path": [f"img ({i}).png" for i in range(n)], "label": labels,
                         "target": np.arange(n) % 2, "group": np.arange(n)})
    return meta, rng.random((n, f)), [f"lbp.{i}" for i in range(f)]


@pytest.mark.parametrize("batch_rows", [1, 3, 256])
def test_same_table_as_the_plain_way(tmp_path, batch_rows):
    meta, X, names = _table()
    frame = pd.concat([meta, pd.DataFrame(X, columns=names)], axis=1)
    frame.attrs = {"featbus": {"label_leak": {"columns": ["shape.area"]}}}
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "plain.csv")
    write_feature_table(tmp_path / "ours.csv", meta, X, names, batch_rows=batch_rows)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    write_feature_table(tmp_path / "ours.parquet", meta, X, names, attrs=frame.attrs, batch_rows=batch_rows)
    back = pd.read_parquet(tmp_path / "ours.parquet")
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == frame.attrs


def test_rejects_a_matrix_of_the_wrong_shape_and_an_unknown_format(tmp_path):
    meta, X, names = _table()
    with pytest.raises(ValueError, match=r"X must have shape \(7, 5\)"):
        write_feature_table(tmp_path / "t.csv", meta, X[:3], names)
    with pytest.raises(ValueError, match="unknown table format '.xlsx'"):
        write_feature_table(tmp_path / "t.xlsx", meta, X, names)
    assert not list(tmp_path.iterdir())  # nothing written
