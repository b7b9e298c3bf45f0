"""cslib.train and cslib.runtime: the decks' helpers, fit on tiny models, devices and seeds."""
import pytest
import torch
from torch import nn

import cslib
from cslib import data
from cslib.train import History, accuracy, evaluate, fit, predict_proba, train_batch


def toy_problem(n=256, seed=0):
    """Two well separated blobs in 2-D: any small model learns them."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + (y[:, None] * 2 - 1) * 2.0
    return x, y


def tiny_model():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))


def test_fit_learns_and_reports_every_epoch():
    cslib.set_seed(0)
    x, y = toy_problem()
    model = tiny_model()
    h = fit(model, (x, y), toy_problem(seed=1), epochs=3, batch_size=32, lr=1e-2, progress=False)
    assert isinstance(h, History) and len(h) == 3 and h.epochs == [1, 2, 3]
    assert len(h.loss) == len(h.train_acc) == len(h.test_acc) == len(h.test_loss) == len(h.seconds) == 3
    assert h.loss[-1] < h.loss[0]
    assert h.test_acc[-1] > 0.95 and all(s > 0 for s in h.seconds)
    assert "train_acc" in repr(h) and set(h.as_dict()) == {"loss", "train_acc", "test_loss", "test_acc", "seconds"}


def test_seeded_cpu_runs_repeat_exactly():
    def run():
        cslib.set_seed(123)
        model = tiny_model()
        return fit(model, toy_problem(), epochs=2, batch_size=16, progress=False), model

    (h1, m1), (h2, m2) = run(), run()
    assert h1.loss == h2.loss and h1.train_acc == h2.train_acc
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def test_fit_accepts_the_decks_dataset_classes_and_tensor_datasets():
    x, y = toy_problem(64)

    class DeckDataset(torch.utils.data.Dataset):  # like MNISTDataset: .x and .y
        def __init__(self, x, y):
            self.x, self.y = x, y

    for train in (DeckDataset(x, y), torch.utils.data.TensorDataset(x, y), [x, y]):
        assert len(fit(tiny_model(), train, epochs=1, progress=False)) == 1


def test_fit_rejects_bad_input_with_clear_messages():
    x, y = toy_problem(10)
    with pytest.raises(TypeError, match="rescale images to floats first"):
        fit(tiny_model(), (torch.zeros(10, 2, dtype=torch.uint8), y), progress=False)
    with pytest.raises(ValueError, match="10 inputs but 9 labels"):
        fit(tiny_model(), (x, y[:9]), progress=False)
    with pytest.raises(TypeError, match=r"\(x, y\) pair"):
        fit(tiny_model(), x, progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        fit(tiny_model(), (x, y), epochs=0, progress=False)
    images = data.prepare(torch.zeros(4, 28, 28, dtype=torch.uint8))  # (N, 1, 28, 28) into an MLP
    mlp = nn.Sequential(nn.Linear(784, 10))
    with pytest.raises(RuntimeError, match="an MLP wants flat inputs"):
        fit(mlp, (images, torch.zeros(4, dtype=torch.long)), progress=False)


def test_fit_with_augmentation_and_scheduler():
    seen = []

    def augment(xb):
        seen.append(xb.shape[0])
        return xb + 0.01 * torch.randn_like(xb)

    def schedule(opt, total_steps):
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=total_steps)

    h = fit(tiny_model(), toy_problem(100), epochs=2, batch_size=32, augment=augment, scheduler=schedule, progress=False)
    assert len(h) == 2 and seen == [32, 32, 32, 4] * 2


def test_train_batch_and_accuracy_set_the_mode():
    x, y = toy_problem(32)
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.eval()
    before = [p.clone() for p in model.parameters()]
    loss = train_batch(x, y, model, opt, nn.CrossEntropyLoss())
    assert isinstance(loss, float) and model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    acc = accuracy(x, y, model)
    assert isinstance(acc, float) and 0 <= acc <= 1 and not model.training
    # eval mode: dropout off, so two evaluations agree exactly
    assert accuracy(x, y, model) == acc


def test_evaluate_and_predict_proba_restore_the_mode():
    x, y = toy_problem(50)
    model = tiny_model().train()
    loss, acc = evaluate(model, x, y, batch_size=7)
    assert model.training and loss > 0 and 0 <= acc <= 1
    p = predict_proba(model, x, batch_size=7)
    assert p.shape == (50, 2) and torch.allclose(p.sum(1), torch.ones(50)) and model.training


def test_runtime_helpers(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "1")
    assert cslib.fast_mode() and cslib.budget(full=5, fast=1) == 1
    monkeypatch.setenv("CSLIB_FAST", "0")
    assert not cslib.fast_mode() and cslib.budget(full=5, fast=1) == 5
    monkeypatch.delenv("CSLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert cslib.get_device().type == expected
    assert cslib.get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was asked for"):
            cslib.get_device("cuda")


def test_setup_prints_what_runs_where(capsys, monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "1")
    device = cslib.setup(seed=3)
    out = capsys.readouterr().out
    assert isinstance(device, torch.device) and "mode: FAST" in out and "seed 3" in out and cslib.__version__ in out


def test_fit_stops_once_the_test_accuracy_is_reached():
    cslib.set_seed(0)
    h = fit(tiny_model(), toy_problem(), toy_problem(seed=1), epochs=20, lr=1e-2, stop_at=0.9, progress=False)
    assert 1 <= len(h) < 20 and h.test_acc[-1] >= 0.9 and all(a < 0.9 for a in h.test_acc[:-1])
    with pytest.raises(ValueError, match="stop_at needs test data"):
        fit(tiny_model(), toy_problem(), stop_at=0.9, progress=False)


def test_fit_trains_conv_nets_channels_last_and_gives_them_back_unchanged_in_layout():
    cslib.set_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    layouts = []
    model.register_forward_pre_hook(lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    x = torch.rand(64, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    fit(model, (x, y), epochs=1, batch_size=16, progress=False)
    assert layouts and all(layouts)  # every training batch went in channels-last
    assert model[0].weight.is_contiguous()  # and the model is back in the usual layout
    model[0].weight.view(-1)  # which a student's .view() relies on


def test_fit_uses_adam_over_trainable_parameters_only():
    model = tiny_model()
    model[0].weight.requires_grad_(False)
    opt = cslib.train.adam(model, lr=0.01)
    params = [p for group in opt.param_groups for p in group["params"]]
    assert len(params) == 3 and all(p.requires_grad for p in params)
    assert opt.param_groups[0]["lr"] == 0.01


# --------------------------------------------------------------------------- interruptions and bad input
def test_ctrl_c_keeps_the_finished_epochs_and_a_usable_model(capsys):
    cslib.set_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.rand(64, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0.5).long()
    batches = []

    def stop_in_epoch_3(xb):  # Ctrl-C (or Jupyter's stop button) arrives during the third epoch
        batches.append(len(xb))
        if len(batches) == 2 * 4 + 2:
            raise KeyboardInterrupt
        return xb

    h = fit(model, (x, y), (x, y), epochs=5, batch_size=16, augment=stop_in_epoch_3, progress=False)
    assert isinstance(h, History) and h.interrupted and len(h) == 2
    assert len(h.loss) == len(h.train_acc) == len(h.test_loss) == len(h.test_acc) == len(h.seconds) == 2
    out = capsys.readouterr().out
    assert "fit interrupted during epoch 3/5" in out and "History of the 2 finished epoch(s)" in out
    assert "interrupted: 2 finished epoch(s)" in repr(h)
    assert not model.training and model[0].weight.is_contiguous()  # eval mode, usual layout
    assert model(x).shape == (64, 2) and torch.isfinite(model(x)).all()


def test_ctrl_c_during_the_test_evaluation_keeps_only_whole_epochs(capsys):
    calls = {"eval": 0}

    def loss_fn(out, y):
        if not torch.is_grad_enabled():  # evaluate() runs without gradients
            calls["eval"] += 1
            if calls["eval"] == 2:
                raise KeyboardInterrupt
        return nn.functional.cross_entropy(out, y)

    h = fit(tiny_model(), toy_problem(64), toy_problem(64, seed=1), epochs=4, loss_fn=loss_fn, progress=False)
    assert h.interrupted and len(h) == 1 and len(h.test_acc) == 1 and "epoch 2/4" in capsys.readouterr().out


def test_a_loss_that_becomes_nan_stops_training_with_a_hint():
    cslib.set_seed(0)
    seen = []

    def nan_from_epoch_2(xb):
        seen.append(1)
        return xb * float("nan") if len(seen) > 4 else xb

    model = tiny_model()
    with pytest.raises(cslib.train.LossNotFiniteError, match=r"became nan in epoch 2.*learning rate \(0\.001\) too high") as error:
        fit(model, toy_problem(128), epochs=5, batch_size=32, augment=nan_from_epoch_2, progress=False)
    assert len(error.value.history) == 1 and len(seen) == 8  # stopped at the end of epoch 2, not after 5
    assert not model.training


def test_a_learning_rate_far_too_high_is_caught():
    cslib.set_seed(0)
    x, y = toy_problem(64)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    with pytest.raises(FloatingPointError, match="Is the learning rate"):
        fit(model, (x * 1e3, y), epochs=20, optimizer=torch.optim.SGD(model.parameters(), lr=1e6), progress=False)


def test_the_nan_check_inside_an_epoch_stops_early(monkeypatch):
    monkeypatch.setattr(cslib.train, "NAN_CHECK_EVERY", 3)
    seen = []

    def nan(xb):
        seen.append(1)
        return xb * float("nan")

    with pytest.raises(cslib.train.LossNotFiniteError, match="within its first 3 of 32 batches"):
        fit(tiny_model(), toy_problem(256), epochs=1, batch_size=8, augment=nan, progress=False, device="cpu")
    assert len(seen) == 3


def test_nan_in_the_inputs_is_rejected_before_training():
    x, y = toy_problem(20)
    x[7, 1] = float("nan")
    x[9, 0] = float("inf")
    with pytest.raises(ValueError, match=r"train: 2 of the 20 inputs hold NaN or infinite values \(the first is number 7\)"):
        fit(tiny_model(), (x, y), progress=False)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_labels_outside_the_models_classes_are_rejected_up_front(device):
    x, y = toy_problem(20)
    calls = []
    augment = lambda xb: calls.append(1) or xb  # noqa: E731 (counts training batches)
    with pytest.raises(TypeError, match=r"whole class numbers.*such as 8\.9.*8\.9 would become 8"):
        fit(tiny_model(), (x, torch.full((20,), 8.9)), progress=False, device=device)
    with pytest.raises(ValueError, match=r"train: label -1 is outside the valid range 0\.\.1: the model has 2 outputs"):
        fit(tiny_model(), (x, y - 1), progress=False, device=device, augment=augment)
    with pytest.raises(ValueError, match=r"train: label 2 is outside the valid range 0\.\.1"):
        fit(tiny_model(), (x, y + 1), progress=False, device=device, augment=augment)
    with pytest.raises(ValueError, match=r"test: label 5 is outside the valid range 0\.\.1"):
        fit(tiny_model(), (x, y), (x, y * 5), progress=False, device=device, augment=augment)
    with pytest.raises(ValueError, match=r"shape \(N,\), got shape \(20, 1\) \(use y\.view\(-1\)\)"):
        fit(tiny_model(), (x, y[:, None]), progress=False, device=device, augment=augment)
    assert calls == []  # nothing was trained
    assert len(fit(tiny_model(), (x, y.float()), epochs=1, progress=False, device=device)) == 1  # 0.0 and 1.0 are fine
    ignoring = nn.CrossEntropyLoss(ignore_index=-1)  # a label the student asked the loss to skip is allowed
    assert len(fit(tiny_model(), (x, torch.where(y == 0, -1, y)), epochs=1, loss_fn=ignoring, progress=False, device=device)) == 1


def test_a_test_set_of_the_wrong_shape_fails_before_training():
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.rand(32, 1, 8, 8)
    y = torch.randint(0, 2, (32,))
    calls = []
    with pytest.raises(RuntimeError, match=r"works on training batches shaped \(1, 8, 8\) but fails on the test set, shaped \(64,\)"):
        fit(cnn, (x, y), (x.flatten(1), y), augment=lambda xb: calls.append(1) or xb, progress=False)
    assert calls == [] and cnn[0].weight.is_contiguous()


def test_float64_inputs_are_converted_with_a_note(capsys):
    def run(dtype):
        cslib.set_seed(0)
        x, y = toy_problem(64)
        model = tiny_model()
        h = fit(model, (x.to(dtype), y), (x.to(dtype), y), epochs=2, batch_size=16, progress=False)
        return h, model

    (h32, m32), (h64, m64) = run(torch.float32), run(torch.float64)
    assert "fit converts the inputs from torch.float64 to torch.float32" in capsys.readouterr().out
    assert h32.loss == h64.loss and all(torch.equal(a, b) for a, b in zip(m32.parameters(), m64.parameters()))


def test_a_last_batch_of_one_joins_the_one_before_with_batch_norm():
    sizes = []
    count = lambda xb: sizes.append(len(xb)) or xb  # noqa: E731
    x, y = toy_problem(65)
    bn = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    h = fit(bn, (x, y), epochs=2, batch_size=32, augment=count, scheduler=lambda opt, steps: sizes.append(f"steps {steps}"), progress=False)
    assert len(h) == 2 and sizes == ["steps 4", 32, 33, 32, 33]
    sizes.clear()
    fit(tiny_model(), (x, y), epochs=1, batch_size=32, augment=count, progress=False)  # no batch norm: batches as usual
    assert sizes == [32, 32, 1]
    sizes.clear()  # BatchNorm2d on 1x1 maps fails on a batch of one too
    images, labels = torch.rand(33, 1, 4, 4), torch.randint(0, 2, (33,))
    conv_bn = nn.Sequential(nn.Conv2d(1, 3, 4), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3, 2))
    fit(conv_bn, (images, labels), epochs=1, batch_size=32, augment=count, progress=False)
    assert sizes == [33]


def test_one_training_example_with_batch_norm_is_refused_in_words():
    x, y = toy_problem(1)
    with pytest.raises(ValueError, match="train holds one example, and batch norm cannot normalise a batch of one"):
        fit(nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)), (x, y), epochs=1, progress=False)
    fit(tiny_model(), (x, y), epochs=1, progress=False)  # without batch norm, one example trains


def test_fit_checks_cost_no_randomness():
    """The checks before training (one batch through the model) must not change a seeded run."""
    class Noisy(nn.Module):  # draws random numbers in eval mode too
        def forward(self, x):
            return x + 0 * torch.rand_like(x)

    probe = nn.Sequential(nn.Linear(2, 4), Noisy(), nn.Linear(4, 2))
    cslib.set_seed(5)
    order_before = torch.randperm(10)
    cslib.set_seed(5)
    cslib.train._check_before_training(probe, *toy_problem(8), None, nn.CrossEntropyLoss(), False, torch.device("cpu"))
    assert torch.equal(torch.randperm(10), order_before) and probe.training


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_epochs_and_batch_size_must_be_whole_numbers(value):
    with pytest.raises(ValueError, match="must be a whole number of at least 1"):
        fit(tiny_model(), toy_problem(8), epochs=value, progress=False)
    with pytest.raises(ValueError, match="must be a whole number of at least 1"):
        fit(tiny_model(), toy_problem(8), batch_size=value, progress=False)


# --------------------------------------------------------------------------- more bad input, found by probing the API
def test_evaluate_and_predict_proba_reject_bad_input_with_one_message():
    x, y = toy_problem(20)
    model = tiny_model().train()
    with pytest.raises(ValueError, match=r"y: label 7 is outside the valid range 0\.\.1"):
        evaluate(model, x, y * 7)
    assert model.training  # the mode is restored after an error too
    with pytest.raises(ValueError, match="x is empty: nothing to evaluate"):
        evaluate(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="20 inputs but 5 labels"):
        evaluate(model, x, y[:5])
    with pytest.raises(TypeError, match="x is torch.uint8; rescale images to floats first"):
        evaluate(model, x.byte(), y)
    with pytest.raises(TypeError, match="x is torch.uint8"):
        predict_proba(model, x.byte())
    with pytest.raises(RuntimeError, match=r"model\(x\) failed on a batch of shape \(20, 3\)"):
        evaluate(model, torch.rand(20, 3), y)
    with pytest.raises(TypeError, match=r"x must be a tensor, got ndarray \(torch.from_numpy"):
        predict_proba(model, x.numpy())


def test_fit_catches_mistakes_that_would_train_nothing_or_never_stop():
    x, y = toy_problem(20)
    frozen = tiny_model().requires_grad_(False)
    with pytest.raises(ValueError, match=r"no trainable parameters \(are they all frozen\?\)"):
        fit(frozen, (x, y), progress=False)
    old_model, model = tiny_model(), tiny_model()  # the model cell was run again after the optimizer cell
    opt = torch.optim.Adam(old_model.parameters())
    with pytest.raises(ValueError, match="the optimizer holds none of this model's parameters"):
        fit(model, (x, y), optimizer=opt, progress=False)
    with pytest.raises(ValueError, match=r"stop_at is a test accuracy between 0 and 1, got 95 \(for 95 % write 0.95\)"):
        fit(model, (x, y), (x, y), stop_at=95, progress=False)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    with pytest.raises(TypeError, match=r"not a DataLoader: fit makes its own batches"):
        fit(model, loader, progress=False)
    with pytest.raises(TypeError, match=r"torch.from_numpy\(a\) turns a NumPy array into one"):
        fit(model, (x.numpy(), y.numpy()), progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was asked for"):
            fit(model, (x, y), device="cuda", progress=False)


def test_seeds_and_device_names_are_checked():
    for seed in (-1, 1.5, "abc", 2**32):
        with pytest.raises(ValueError, match="seed must be a whole number from 0 to 2\\*\\*32 - 1"):
            cslib.set_seed(seed)
    with pytest.raises(ValueError, match="unknown device 'gpu': use 'cpu', 'cuda'"):
        cslib.get_device("gpu")


def trained_lecture2_cnn():
    """Lecture 2's CNN after one epoch on the bundled Fashion-MNIST sample, and the sample's test set."""
    from cslib import models
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CSLIB_FAST", "1")
        train, test = data.load("fashion-mnist", verbose=False), data.load("fashion-mnist", train=False, verbose=False)
    cslib.set_seed(0)
    model = models.cnn()
    fit(model, (data.prepare(train.data), train.targets), epochs=1, progress=False)
    return model, data.prepare(test.data), test.targets.long()


def test_evaluate_gives_the_same_accuracy_in_both_layouts():
    model, x, y = trained_lecture2_cnn()
    weights = [p.data_ptr() for p in model.parameters()]
    seen = []  # the layout of the activations that reach the second convolution, and whether autograd was off
    model[3].register_forward_pre_hook(lambda m, args: seen.append(
        (args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous(), torch.is_inference_mode_enabled())))
    by_layout = {}
    for channels_last in (False, True, None):
        seen.clear()
        by_layout[channels_last] = evaluate(model, x, y, channels_last=channels_last)
        assert {layout for layout, _ in seen} == {channels_last is not False}  # None: channels-last on a CPU, as fit trains
        assert all(inference for _, inference in seen)
    (loss_c, acc_c), (loss_cl, acc_cl) = by_layout[False], by_layout[True]
    assert acc_c == acc_cl == by_layout[None][1] and 0.5 < acc_c < 1  # exactly: not one of the 500 predictions changes
    assert loss_c == pytest.approx(loss_cl, rel=1e-5)
    # the model comes back with its very own tensors, in the usual layout and mode
    assert [p.data_ptr() for p in model.parameters()] == weights and model[3].weight.is_contiguous() and model.training
    p_c, p_cl = predict_proba(model, x, channels_last=False), predict_proba(model, x)
    assert torch.allclose(p_c, p_cl, atol=1e-5) and torch.equal(p_c.argmax(1), p_cl.argmax(1))
    assert not p_cl.is_inference() and p_cl.add_(0).requires_grad_().shape == (500, 10)  # an ordinary tensor


def test_evaluate_batches_by_device_and_keeps_the_layout_fit_chose():
    model, x, y = trained_lecture2_cnn()
    sizes = []
    model.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    evaluate(model, x, y)
    bs = cslib.train.eval_batch_size("cpu")
    assert sizes == [bs] * (len(x) // bs) + ([len(x) % bs] if len(x) % bs else [])
    assert evaluate(model, x, y, batch_size=500) == pytest.approx(evaluate(model, x, y, batch_size=7))
    model.to(memory_format=torch.channels_last)  # as inside fit: nothing to convert, nothing to put back
    weight = model[3].weight.data_ptr()
    evaluate(model, x, y)
    assert model[3].weight.data_ptr() == weight and model[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert cslib.train.eval_batch_size("cuda") > cslib.train.eval_batch_size("cpu")
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            evaluate(model, x, y, batch_size=bad)


def test_evaluate_puts_the_model_back_when_it_fails():
    model, x, y = trained_lecture2_cnn()
    weights = [p.data_ptr() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="model\\(x\\) failed"):
        evaluate(model, x[:, :, :20], y)  # images of the wrong size
    assert [p.data_ptr() for p in model.parameters()] == weights and model.training


def test_an_adam_made_with_torchs_defaults_runs_fused_during_fit_and_the_same_math():
    x, y = toy_problem(64)
    weights = {}
    for name, make_opt in (("decks' Adam", lambda m: torch.optim.Adam(m.parameters(), lr=1e-2)),
                           ("fused Adam", lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, fused=True)),
                           ("for-loop Adam", lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, foreach=False))):
        cslib.set_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        opt = make_opt(model)
        seen = []
        model.register_forward_pre_hook(lambda m, args: seen.append(opt.param_groups[0]["fused"]) if m.training else None)
        fit(model, (x, y), epochs=2, batch_size=16, optimizer=opt, progress=False)
        weights[name] = [p.detach().clone() for p in model.parameters()]
        if name == "decks' Adam":
            assert set(seen) == {True} and opt.param_groups[0]["fused"] is None  # fused while fit trains, as made after
        if name == "for-loop Adam":
            assert set(seen) == {None} and opt.param_groups[0]["foreach"] is False  # a choice the student made is kept
    assert all(torch.equal(a, b) for a, b in zip(weights["decks' Adam"], weights["fused Adam"]))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(weights["decks' Adam"], weights["for-loop Adam"]))
