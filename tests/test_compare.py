"""cslib.compare: the verdicts every experiment prints, and cslib.data.validation_split."""
import pytest
import torch

from cslib import compare
from cslib.data import validation_split


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "0")


@pytest.mark.parametrize("df, level, table", [  # the printed tables of Student's t (two-sided)
    (1, 0.95, 12.706), (2, 0.95, 4.303), (3, 0.95, 3.182), (4, 0.95, 2.776), (9, 0.95, 2.262), (30, 0.95, 2.042),
    (120, 0.95, 1.980), (2, 0.99, 9.925), (10, 0.99, 3.169), (5, 0.98, 3.365), (3, 0.999, 12.924), (7, 0.90, 1.895),
])
def test_t_quantiles_are_students(df, level, table):
    assert compare.t_quantile(df, level) == pytest.approx(table, abs=0.0006)


def test_t_quantiles_refuse_what_they_cannot_take():
    with pytest.raises(ValueError, match="degrees of freedom"):
        compare.t_quantile(0)
    with pytest.raises(ValueError, match="level is a probability"):
        compare.t_quantile(3, 95)


def test_comparisons_printed_together_widen_each_interval(full_mode):
    """Four comparisons together: each interval at 98.75 %, so that a difference one 95 % interval would call
    (here 3 of 3 seeds, just clear of zero) is no longer called; the line says which interval it is."""
    a, b = [0.93, 0.91, 0.95], [0.90, 0.89, 0.91]
    alone, together = compare.paired(a, b, "a", "b"), compare.paired(a, b, "a", "b", comparisons=4)
    assert alone.winner == "a" and together.winner is None
    width = (alone.interval[1] - alone.interval[0]) / (together.interval[1] - together.interval[0])
    assert width == pytest.approx(compare.t_quantile(2) / compare.t_quantile(2, 0.9875))
    assert str(alone) == "a vs b: a ahead in 3 of 3 seeds, mean +3.0 points (95 % interval +0.5 to +5.5)"
    assert str(together) == ("a vs b: no measurable difference (mean +3.0 points, 98.75 % interval -2.1 to +8.1, "
                             "one of 4 comparisons; a ahead in 3 of 3 seeds)")
    with pytest.raises(ValueError, match="comparisons is how many"):
        compare.paired(a, b, comparisons=0)


def test_a_consistent_difference_names_the_winner_with_its_interval(full_mode):
    result = compare.paired([0.90, 0.91, 0.92, 0.93, 0.95], [0.88, 0.885, 0.90, 0.91, 0.92], "dropout", "early stopping")
    assert result.winner == "dropout"
    assert result.a_ahead == 5
    assert result.differences == pytest.approx((2.0, 2.5, 2.0, 2.0, 3.0))
    low, high = result.interval
    assert low == pytest.approx(2.3 - 2.7764 * 0.4472136 / 5 ** 0.5, abs=1e-4)
    assert high == pytest.approx(2.3 + 2.7764 * 0.4472136 / 5 ** 0.5, abs=1e-4)
    assert str(result) == ("dropout vs early stopping: dropout ahead in 5 of 5 seeds, mean +2.3 points "
                           "(95 % interval +1.7 to +2.9)")


def test_the_winner_can_be_b_and_lower_can_be_better(full_mode):
    worse = compare.paired([0.80, 0.81, 0.79], [0.90, 0.92, 0.91], "plain", "batch norm")
    assert worse.winner == "batch norm" and worse.b_ahead == 3
    assert "batch norm ahead in 3 of 3 seeds, mean -11.0 points" in str(worse)
    faster = compare.paired([10, 11, 12], [20, 21, 23], "fit", "loop", scale=1, unit="s", higher_is_better=False, digits=2)
    assert faster.winner == "fit"
    assert str(faster).startswith("fit vs loop: fit ahead in 3 of 3 seeds, mean -10.33 s")


def test_the_pairs_can_be_draws_or_repeats(full_mode):
    line = str(compare.paired([0.9, 0.91, 0.92], [0.8, 0.8, 0.81], "a", "b", over="draws"))
    assert line == "a vs b: a ahead in 3 of 3 draws, mean +10.7 points (95 % interval +9.2 to +12.1)"
    assert "too few repeats" in str(compare.paired([1], [2], over="repeats"))


def test_overlapping_seeds_give_no_measurable_difference(full_mode):
    result = compare.paired([0.90, 0.91, 0.92], [0.905, 0.90, 0.93], "a", "b")
    assert result.winner is None
    assert str(result) == "a vs b: no measurable difference (mean -0.2 points, 95 % interval -2.8 to +2.4; a ahead in 1 of 3 seeds)"


def test_equal_values_are_no_difference(full_mode):
    result = compare.paired([0.9] * 3, [0.9] * 3, "a", "b")
    assert result.winner is None
    assert "no measurable difference (mean +0.0 points" in str(result)


def test_too_few_seeds_and_fast_mode_never_conclude(full_mode, monkeypatch):
    two = compare.paired([0.99, 0.98], [0.10, 0.11], "a", "b")
    assert two.winner is None
    assert str(two) == "a vs b: too few seeds to conclude (2; at least 3 needed)"
    monkeypatch.setenv("CSLIB_FAST", "1")
    clear = compare.paired([0.99, 0.98, 0.99], [0.10, 0.11, 0.12], "a", "b")
    assert clear.winner is None
    assert str(clear) == "a vs b: fast mode: too little training to conclude"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="one value of each per seed: got 2 for a and 3 for b"):
        compare.paired([1, 2], [1, 2, 3], "a", "b")
    with pytest.raises(ValueError, match="at least one seed"):
        compare.paired([], [])
    with pytest.raises(ValueError, match="not a finite number"):
        compare.paired([1, float("nan"), 2], [1, 2, 3])


def test_a_difference_of_a_few_test_images_is_inside_the_test_sets_noise(full_mode):
    """A ahead by the same 2 of 100 test images in all 3 seeds: over seeds alone that is certain (no spread at all);
    another 100 test images could well give no difference, and paired_by_example says so."""
    b = [[1] * 50 + [0] * 50 for _ in range(3)]
    a = [[1] * 52 + [0] * 48 for _ in range(3)]
    seeds_only = compare.paired([sum(r) / 100 for r in a], [sum(r) / 100 for r in b], "a", "b")
    both = compare.paired_by_example(a, b, "a", "b")
    assert seeds_only.winner == "a" and both.winner is None
    assert both.differences == pytest.approx(seeds_only.differences) and both.mean == pytest.approx(2.0)
    # d_j: 1 on 2 examples, 0 on 98: variance 2 * 0.98 / 99, over 100 examples, in points squared; no interaction
    assert both.example_variance == pytest.approx(1e4 * (2 * 0.98 / 99) / 100)
    assert both.df == 99  # all of the variance is the test set's: its degrees of freedom (Welch-Satterthwaite)
    assert both.half_width == pytest.approx(compare.t_quantile(99) * both.example_variance ** 0.5)
    assert str(both) == ("a vs b: no measurable difference (mean +2.0 points, 95 % interval -0.8 to +4.8 over seeds "
                         "and 100 test examples; a ahead in 3 of 3 seeds)")


def test_by_example_counts_the_seeds_disagreements_on_single_examples_once(full_mode):
    """Two networks that are right at random, independently on each example and in each seed: there is no test-set
    effect to add (each example's difference is noise that the seeds already measure), so the interval is about the
    seeds' alone; adding var(d_j) / m to it would count that noise twice."""
    import random
    import statistics

    random.seed(0)
    a, b = ([[random.random() < 0.8 for _ in range(2000)] for _ in range(5)] for _ in range(2))
    result = compare.paired_by_example(a, b, "a", "b")
    seeds = statistics.variance(result.differences) / 5
    per_example = [sum(ra[j] - rb[j] for ra, rb in zip(a, b)) / 5 for j in range(2000)]
    naive = 1e4 * statistics.variance(per_example) / 2000  # var(d_j) / m: the interaction again
    assert naive > 0.5 * seeds and result.example_variance < 0.1 * seeds
    assert result.df == 4


def test_by_example_a_clear_difference_still_wins_and_takes_tensors(full_mode):
    torch.manual_seed(0)
    b = (torch.rand(4, 2000) < 0.80).int()
    a = b | (torch.rand(4, 2000) < 0.5).int()  # A gets right everything B does, and half of the rest
    result = compare.paired_by_example(a.bool(), b, "a", "b", over="draws", comparisons=3)
    assert result.winner == "a" and result.test_examples == 2000
    assert result.mean == pytest.approx(100 * (a.float().mean() - b.float().mean()).item())
    assert "over draws and 2,000 test examples, one of 3 comparisons" in str(result)


def test_by_example_refuses_accuracies_and_ragged_rows():
    with pytest.raises(ValueError, match="1 \\(right\\) or 0 \\(wrong\\) per test example, not accuracies"):
        compare.paired_by_example([[0.9, 0.8]], [[0.7, 0.9]])
    with pytest.raises(ValueError, match="rows of the same length"):
        compare.paired_by_example([[1, 0, 1], [1, 0]], [[1, 1, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="one row of each per seed: got 2 for a and 1 for b"):
        compare.paired_by_example([[1, 0], [1, 1]], [[1, 0]], "a", "b")


def test_mean_sd():
    assert compare.mean_sd([0.9, 0.91, 0.92]) == "0.910 ± 0.010"
    assert compare.mean_sd([0.5]) == "0.500 ± 0.000"
    assert compare.mean_sd([1.0, 3.0], digits=1) == "2.0 ± 1.4"


def test_validation_split_is_disjoint_complete_and_repeatable():
    x, y = torch.arange(100).float().view(100, 1), torch.arange(100) % 10
    (xt, yt), (xv, yv) = validation_split(x, y, 20, seed=3)
    assert len(xt) == 80 and len(xv) == 20
    assert sorted(torch.cat([xt, xv]).view(-1).long().tolist()) == list(range(100))
    assert torch.equal(yv, xv.view(-1).long() % 10)  # labels stay with their inputs
    (_, _), (xv_again, _) = validation_split(x, y, 20, seed=3)
    assert torch.equal(xv, xv_again)
    (_, _), (xv_other, _) = validation_split(x, y, 20, seed=4)
    assert not torch.equal(xv, xv_other)


@pytest.mark.parametrize("n_val", [0, 100, -1, 2.5, True])
def test_validation_split_refuses_sizes_it_cannot_take(n_val):
    with pytest.raises(ValueError, match="n_val is how many of the 100 examples to hold out"):
        validation_split(torch.zeros(100, 1), torch.zeros(100), n_val)
