"""The augmentation benchmark runs end to end on a tiny slice and reports its table (no timing is asserted)."""
import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_augmentation", ROOT / "benchmarks" / "bench_augmentation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overhead_table_and_accuracy_report(capsys):
    bench = load_bench()
    result = bench.measure_overhead("cpu", n_train=96, chunk=64, repeats=2, per_item_n=64, log=lambda s: None)
    assert result["n_train"] == 96 and result["chunk"] == 64 and len(result["plain_all"]) == len(result["batched_all"]) == 2
    assert result["plain_s"] > 0 and result["batched_s"] > 0 and result["per_item_s"] > 0 and result["cpu_ratio"] > 0
    info = bench.machine_info(torch.device("cpu"))
    assert set(info) == {"cpu", "torch", "device", "python"} and torch.__version__ in info["torch"]
    table = bench.report_overhead(info, result)
    assert "augmentation overhead ratio:" in table and "per-item shifts in __getitem__ (slides)" in table
    fake = {"clean": 0.92, "by_shift": {-5: 0.9, 0: 0.92, 5: 0.86}, "worst_shifted": 0.86, "at_5": 0.86, "epoch_s": 1.0}
    line = bench.report_accuracy("x", fake)
    assert "clean test accuracy 0.9200 (target >= 0.91: met)" in line and "shifted by ±5 px: 0.8600 (target >= 0.85: met)" in line


def test_per_item_dataset_shifts_each_image_on_its_own():
    bench = load_bench()
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    images[:, :, 14] = 255
    data = bench.PerItemShiftDataset(images, torch.zeros(4, dtype=torch.long))
    torch.manual_seed(0)
    columns = {int(data[0][0][0].sum(0).argmax()) for _ in range(30)}
    assert len(columns) > 3 and all(9 <= c <= 19 for c in columns)  # shifts of up to 5 px


@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
    (["--chunk", "-5"], "argument --chunk: must be at least 1, got -5"),
    (["--n-train", "1"], "argument --n-train: must be at least 2, got 1"),
    (["--per-item-n", "-1"], "argument --per-item-n: must be at least 0, got -1"),
    (["--device", "tpu"], "--device tpu:"),
])
def test_bad_arguments_fail_before_anything_runs(args, message, capsys):
    bench = load_bench()
    with pytest.raises(SystemExit) as exit_:
        bench.main(args)
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and message in captured.err and "Timing" not in captured.out


def test_an_interrupted_fit_stops_the_benchmark(monkeypatch):
    bench = load_bench()
    interrupted = bench.cslib.train.History(loss=[1.0], train_acc=[0.5], seconds=[1.0])
    interrupted.interrupted = True
    monkeypatch.setattr(bench.cslib, "fit", lambda *args, **kwargs: interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench.epoch_seconds(bench.cslib.models.cnn, torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
