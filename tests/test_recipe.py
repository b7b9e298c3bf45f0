"""cslib.recipe: the fast recipe's model, schedule and wrapper behave as documented."""
import torch
from torch import nn

import cslib
from cslib import recipe
from cslib.models import count_parameters


def test_fast_cnn_shape_and_size():
    model = recipe.fast_cnn()
    assert count_parameters(model) == 104_426
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3


def test_one_cycle_warms_up_then_anneals():
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([param], lr=1.0)
    sched = recipe.one_cycle(max_lr=0.1)(opt, total_steps=100)
    lrs = []
    for _ in range(100):
        opt.step()
        sched.step() if len(lrs) < 99 else None
        lrs.append(opt.param_groups[0]["lr"])
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert 20 <= peak <= 30 and abs(max(lrs) - 0.1) < 1e-3 and lrs[-1] < 1e-3 and lrs[0] < 0.01


def test_bfloat16_wrapper_trains_the_wrapped_model():
    model = recipe.fast_cnn(width=4)
    wrapped = recipe.BFloat16(model)
    out = wrapped(torch.rand(3, 1, 28, 28))
    assert out.dtype == torch.float32 and out.shape == (3, 10)
    assert list(wrapped.parameters())[0] is list(model.parameters())[0]


def test_fast_fit_learns_the_bundled_sample(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "1")
    train, test = cslib.data.load("fashion-mnist", verbose=False), cslib.data.load("fashion-mnist", train=False, verbose=False)
    cslib.set_seed(0)
    model = recipe.fast_cnn(width=8)
    h = recipe.fast_fit(model, (cslib.data.prepare(train.data), train.targets), (cslib.data.prepare(test.data), test.targets),
                        epochs=2, batch_size=64, progress=False)  # 2,000 images: 256 would be 8 steps per epoch
    assert len(h) == 2 and h.test_acc[-1] > 0.6
    assert not recipe.gpu_speedups_apply(torch.device("cpu"))


def test_bfloat16_applies_where_the_hardware_computes_in_it(monkeypatch):
    assert isinstance(recipe.cpu_has_native_bf16(), bool)  # this machine's answer, whatever it is
    monkeypatch.setattr(recipe, "cpu_has_native_bf16", lambda: True)
    assert recipe.bf16_applies(torch.device("cpu"))
    monkeypatch.setattr(recipe, "cpu_has_native_bf16", lambda: False)
    assert not recipe.bf16_applies(torch.device("cpu")) and not recipe.bf16_applies(torch.device("mps"))


def test_fast_fit_trains_in_bfloat16_or_float32_as_asked(monkeypatch):
    monkeypatch.setenv("CSLIB_FAST", "1")
    train = cslib.data.load("fashion-mnist", verbose=False)
    x, y = cslib.data.prepare(train.data[:512]), train.targets[:512]  # 8 steps: a one-cycle schedule needs a few
    for bf16 in (True, False):
        cslib.set_seed(0)
        model = recipe.fast_cnn(width=4)
        dtypes = set()
        model[0].register_forward_hook(lambda m, args, out: dtypes.add(out.dtype))
        h = recipe.fast_fit(model, (x, y), epochs=1, batch_size=64, progress=False, bf16=bf16, device="cpu")
        assert len(h) == 1 and dtypes == {torch.bfloat16 if bf16 else torch.float32}
        assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: the weights stay float32
