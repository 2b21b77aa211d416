"""featbus recipes: every line reads as a sentence (each time with its place right after it), and
no time is claimed for a GPU that no measurement gave (issue 76: the guessed GPU times are gone)."""

from __future__ import annotations

import re

from featbus.cli import main


def test_recipes_lines_read_plainly(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("classification (featbus train --recipe NAME):")
    times = [line.strip() for line in out.splitlines() if line.strip().startswith("time for 625 images:")]
    assert len(times) >= 4
    for line in times:
        assert "(CPU only) on" not in line and ") on a GPU" not in line and ") on 2 CPU" not in line, line
        assert re.match(r"time for 625 images: \S.* on 2 CPU cores", line), line
        # a GPU time only from a measurement that the line names (benchmarks/results/backend_speed_gpu.json)
        assert "GPU" not in line or "CPU only" in line or "measured" in line.split("GPU", 1)[1], line
        assert "not measured by featbus" not in line, line
    assert "about 1.5 min on 2 CPU cores; it runs on the CPU only" in out  # handcrafted
