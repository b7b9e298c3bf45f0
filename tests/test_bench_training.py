"""The training benchmark runs end to end in --quick mode (bundled samples, 1 epoch) and saves every table.

No timing is asserted (benchmarks hold the speed targets, not tests): this checks that the script
runs, compares both loops on every model, and reports the ratios, the recipe and the scaling table.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_reports_every_section(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--quick", "--device", "cpu",
                           "--json", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "Machine: cpu" in text and "sample bundled with cslib" in text
    assert "Targets (cpu): cslib.fit >= 2x faster" in text and "augmented / plain epoch" in text
    results = json.loads(out.read_text())
    rows = {(r["model"], r["loop"]) for r in results["compare"]}
    assert rows == {(f"{m} {v}", loop) for m in ("MLP", "CNN") for v in ("plain", "augmented")
                    for loop in ("decks' loop", "cslib.fit")}
    for r in results["compare"]:
        assert r["seconds"] > 0 and r["images_per_s"] > 0 and 0 <= r["test_acc"] <= 1
    assert set(results["speedups"]) == {"MLP plain", "MLP augmented", "CNN plain", "CNN augmented"}
    assert results["recipe"]["seconds"] > 0 and "share_of_decks_time" in results["recipe"]
    assert {(r["model"], r["batch_size"], r["n_train"]) for r in results["scaling"]} == {
        (m, bs, n) for m in ("MLP", "CNN") for bs in (32, 128) for n in (500, 1000)}
