"""The benchmarks still run: each at its smallest size, exit 0 and its report printed.

A benchmark reports numbers and asserts nothing, so nothing else notices when a change to
llmops breaks one (a lock it writes that apply would not, a Policy that a new rule refuses).
This runs the compiler's benchmarks end to end at a size that takes seconds; their figures
are not looked at here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

SMALLEST = {
    "plan_bench.py": (["--sizes", "8", "--repeat", "1", "--skip-dvc"], "Targets:"),
    "policy_bench.py": (["--sizes", "8", "--repeat", "1", "--no-engines"], "0 errors"),
    "audit_bench.py": (["--commits", "5", "--repeat", "1"], "within 5x of git log"),
    "data_bench.py": (["--quick"], "blocked == single: True"),
    "prepare_bench.py": (["--quick"], "peak RSS <= 1.5 GB"),
}
if os.geteuid() == 0:  # its cluster's nodes run in mount namespaces (CI runs as root); about a minute
    SMALLEST["cluster_bench.py"] = (["--quick"], "ratio dvc repro / apply")


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_a_benchmark_runs_to_its_report(script, tmp_path):
    args, reported = SMALLEST[script]
    bench = subprocess.Popen([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                                                                     "HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    try:
        out, err = bench.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        # SIGINT, not SIGKILL: the benchmark's finally blocks stop what it started (cluster_bench's Ray nodes)
        bench.send_signal(signal.SIGINT)
        try:
            out, err = bench.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            bench.kill()
            out, err = bench.communicate()
        pytest.fail(f"{script} ran past 300 s: {out[-2000:]}{err[-3000:]}")
    assert bench.returncode == 0 and reported in out, out[-2000:] + err[-3000:]
