"""The training benchmark runs end to end in --quick mode (bundled samples, 1 epoch) and saves every table.

No timing is asserted (benchmarks hold the speed targets, not tests): this checks that the script
runs, measures the compute limit, compares both loops on every model with epoch wall times, and
reports the ratios, the evaluation table, the recipe and the scaling table; and that a run in a
fresh process (how the full benchmark runs) hands its numbers back.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_reports_every_section(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--quick", "--device", "cpu",
                           "--json", str(out), "--markdown", str(md)], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "Machine: cpu" in text and "sample bundled with cslib" in text and "This takes about" in text
    assert "Targets (cpu): an epoch of cslib.fit >= 2x faster" in text and "augmented / plain epoch" in text
    results = json.loads(out.read_text())
    # the compute limit: matmul throughput, the FLOPs of each step and how close fit comes, and a profile
    limit = results["limit"]
    assert limit["matmul_gflops"]["float32"] > 0
    steps = {r["model"]: r for r in limit["steps"]}
    assert steps["CNN (lecture 2)"]["gflop_per_step"] == pytest.approx(1.886, abs=0.001)  # counted, so exact
    assert all(0 < r["share_of_limit"] and r["ms_per_step"] > 0 for r in steps.values())
    assert any("convolution" in r["op"] for r in limit["profile"]) and 0 < sum(r["share"] for r in limit["profile"]) <= 1.0001
    # the comparison: every row, an epoch's wall time that holds more than the training pass, ratios from it
    rows = {(r["model"], r["loop"]): r for r in results["compare"]}
    assert set(rows) == {(f"{m} {v}", loop) for m in ("MLP", "CNN") for v in ("plain", "augmented")
                         for loop in ("decks' loop", "cslib.fit")}
    for r in results["compare"]:
        assert len(r["epoch_s"]) == 1 and r["epoch_s"][0] > r["train_s"][0] > 0 and 0 <= r["test_acc"][0] <= 1
    assert set(results["speedups"]) == {"MLP plain", "MLP augmented", "CNN plain", "CNN augmented"}
    for name, s in results["speedups"].items():
        deck, fit = rows[(name, "decks' loop")], rows[(name, "cslib.fit")]
        assert s["epoch"] == pytest.approx(deck["epoch_s"][0] / fit["epoch_s"][0])
    assert rows[("CNN plain", "cslib.fit")]["layouts_agree"] == [True]  # evaluate's two layouts, on the trained CNN
    assert {(r["model"], r["layout"], r["batch_size"]) for r in results["evaluate"]} >= {("CNN", "contiguous", 1000), ("CNN", "channels-last", 128)}
    assert results["recipe"]["runs"] and all(r["seconds"] > 0 for r in results["recipe"]["runs"])
    assert {(r["model"], r["batch_size"], r["n_train"]) for r in results["scaling"]} == {
        (m, bs, n) for m in ("MLP", "CNN") for bs in (32, 128) for n in (500, 1000)}
    tables = md.read_text()  # the tables, as in benchmarks/results/
    assert "| CNN plain" in tables and "Matrix multiply" in tables and "Where lecture 2's CNN training step" in tables
    assert "python benchmarks/bench_training.py --quick" in tables


def test_a_run_in_a_fresh_process_reports_its_numbers(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bench = load_bench()
    spec = {"loop": "fit", "model": "MLP", "augmented": False, "seed": 0, "epochs": 1, "device": "cpu", "n_train": 200,
            "check_layouts": False}
    r = bench.run_in_fresh_process(spec)
    assert r["loop"] == "fit" and r["seconds"] > r["train_s"] > 0 and 0 <= r["test_acc"] <= 1
    with pytest.raises(RuntimeError, match="failed"):
        bench.run_in_fresh_process({**spec, "model": "no such model"})


@pytest.mark.parametrize("args, message", [
    (["--json", "/no/such/folder/bench.json"], "--json /no/such/folder/bench.json: the folder /no/such/folder does not exist"),
    (["--sizes", "500", "-100"], "argument --sizes: must be at least 1, got -100"),
    (["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
    (["--batch-sizes", "0"], "argument --batch-sizes: must be at least 1, got 0"),
    (["--epochs", "two"], "argument --epochs: 'two' is not a whole number"),
    (["--device", "gpu"], "--device gpu:"),
])
def test_bad_arguments_fail_before_anything_runs(args, message, monkeypatch, capsys):
    """In this process (the command line's own parsing, as main() does it): exit status 2 and the message."""
    monkeypatch.setenv("CSLIB_FAST", "1")  # --quick sets it; monkeypatch puts the old value back
    with pytest.raises(SystemExit) as stopped:
        load_bench().main(["--quick", *args])
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and message in err
    assert "Machine:" not in out and "##" not in out  # nothing was measured


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "benchmarks" / "bench_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_are_saved_after_every_section(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CSLIB_FAST", "1")  # --quick sets it; monkeypatch puts the old value back
    bench = load_bench()
    rows = [{"loop": loop, "model": "CNN plain", "epoch_s": [2.0], "train_s": [1.5], "images_per_s": 1.0,
             "test_acc": [0.9], "peak_mb": 1.0, "layouts_agree": []} for loop in ("decks' loop", "cslib.fit")]
    monkeypatch.setattr(bench, "compare", lambda *args, **kwargs: rows)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C during the second section

    monkeypatch.setattr(bench, "fast_recipe", crash)
    out = tmp_path / "bench.json"
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--quick", "--device", "cpu", "--sections", "compare", "recipe", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["compare"] == rows and "recipe" not in saved and saved["settings"]["epochs"] == 1


def test_quick_keeps_the_options_you_gave_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("CSLIB_FAST", "1")
    bench = load_bench()
    seen = {}
    monkeypatch.setattr(bench, "scaling", lambda data, device, sizes, batch_sizes, repeats: seen.update(sizes=sizes, batch_sizes=batch_sizes) or [])
    monkeypatch.setattr(bench, "report_scaling", lambda rows, out=None: None)
    assert bench.main(["--quick", "--device", "cpu", "--sections", "scaling", "--sizes", "300", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert seen == {"sizes": [300], "batch_sizes": [32, 128]}
    assert "--quick: the bundled samples, in this process, repeats 1, batch_sizes [32, 128], recipe_epochs 1; kept as you gave them: --epochs, --sizes" in out


def test_an_interrupted_fit_stops_the_benchmark():
    bench = load_bench()
    h = bench.cslib.train.History(loss=[1.0], train_acc=[0.5], seconds=[1.0])
    assert bench.finished(h) is h
    h.interrupted = True
    with pytest.raises(KeyboardInterrupt):
        bench.finished(h)
