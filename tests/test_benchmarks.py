"""benchmarks/speed.py runs end to end and writes a complete record. Its timings are not asserted (timing tests
fail on a busy machine); the benchmark reports the ratio, the test checks that there is one to report."""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEED = ROOT / "benchmarks" / "speed.py"


def test_speed_quick_writes_a_complete_record(tmp_path: Path):
    out = tmp_path / "speed.json"
    # one thread: tiny ops on a shared machine run far faster single-threaded
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SPEED), "--quick", "--out", str(out)],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"speed.py --quick failed:\n{result.stdout}\n{result.stderr}"
    record = json.loads(out.read_text())

    assert record["method"] == "dcgan"
    config = record["config"]
    assert config["device"] == "cpu" and config["precision"] == "32-true" and config["quick"] is True
    assert config["in_shape"] == [1, 28, 28]
    for side in ("zoo", "hand"):
        throughputs = record[side]["images_per_s"]
        assert len(throughputs) == config["repeats"] == 2
        assert all(math.isfinite(t) and t > 0 for t in throughputs), f"{side}: {throughputs}"
        assert record[side]["median"] == statistics.median(throughputs)
    assert math.isclose(record["ratio"], record["zoo"]["median"] / record["hand"]["median"], rel_tol=1e-12)
    assert math.isfinite(record["overhead_ms_per_batch"])
    # the hand-written loop computes exactly what the zoo's training step computes: same kernels in the same
    # order on CPU, so the trained generators agree to the bit (a margin of 1e-6 for a future change of BLAS)
    assert len(record["max_weight_diff"]) == 2 and max(record["max_weight_diff"]) <= 1e-6, record["max_weight_diff"]
    assert set(record["versions"]) == {"python", "torch", "lightning"}
    assert record["cpu"] and record["gpu"] is None
    assert record["threads"] == 1
    assert record["date"].endswith("Z")
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
