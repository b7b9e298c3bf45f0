"""Checks for lab 3 (data augmentation, VGG16's output sizes). In the lab: ``from cslib.checks import lab03 as check``.

The transform questions call the student's transform many times on a test image the student did not
choose (a bright bar on a black background, at a random place) and measure what came out: shape and
dtype, whether the gray levels were inverted, where the bar's center went, how big it is and which way
it points (from its image moments). Any transform that does what the question asks passes, whatever
library or parameters it uses.
"""
from __future__ import annotations

from cslib.checks import Case, Outcome, Question

N_CALLS = 40


# --------------------------------------------------------------------------- drivers (self-contained)
def drive_transform(answer, seed, n_calls):
    """Call the transform ``n_calls`` times on a uint8 (1, 28, 28) bar image and measure every output."""
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    height, width = int(torch.randint(10, 15, (1,), generator=g)), int(torch.randint(3, 6, (1,), generator=g))
    top = 14 - height // 2 + int(torch.randint(-2, 3, (1,), generator=g))
    left = 14 - width // 2 + int(torch.randint(-3, 4, (1,), generator=g))
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, top:top + height, left:left + width] = int(torch.randint(180, 256, (1,), generator=g))
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    disk = ((yy - 13.5) ** 2 + (xx - 13.5) ** 2) <= 13.5 ** 2  # what any rotation about the center keeps inside

    def measure(img, inverted):
        a = img.float()[0]
        content = (255 - a) * disk if inverted else a
        mass = float(content.sum()) / 255
        if mass < 1e-6:
            return {"mass": 0.0, "cy": 0.0, "cx": 0.0, "size": 0.0, "angle": 0.0}
        cy, cx = float((content * yy).sum()) / 255 / mass, float((content * xx).sum()) / 255 / mass
        mu20 = float((content * (xx - cx) ** 2).sum()) / 255 / mass
        mu02 = float((content * (yy - cy) ** 2).sum()) / 255 / mass
        mu11 = float((content * (xx - cx) * (yy - cy)).sum()) / 255 / mass
        angle = math.degrees(0.5 * math.atan2(2 * mu11, mu20 - mu02))  # the bar's direction, in (-90, 90]
        return {"mass": mass, "cy": cy, "cx": cx, "size": math.sqrt(max(mu20 + mu02, 0.0)), "angle": angle}

    torch.manual_seed(seed)
    outputs, seen = [], set()
    for _ in range(n_calls):
        out = answer(image.clone())
        if not torch.is_tensor(out):
            return {"error": f"the transform returned a {type(out).__name__}, not a tensor"}
        info = {"shape": [int(s) for s in out.shape], "dtype": str(out.dtype).replace("torch.", "")}
        if info["shape"] == [1, 28, 28] and out.dtype == torch.uint8:
            inverted = float(out.float().median()) > 127
            info.update(measure(out, inverted), inverted=inverted, same=bool(torch.equal(out, image)))
            seen.add(out.numpy().tobytes())
        outputs.append(info)
    return {"input": measure(image, False), "outputs": outputs, "distinct": len(seen)}


def drive_plot_samples(answer, seed, n_transforms, n):
    """Call the student's grid function with made-up transforms and read back the figure's image axes."""
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.figure import Figure

    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    top, left = int(torch.randint(4, 12, (1,), generator=g)), int(torch.randint(4, 16, (1,), generator=g))
    image[0, top:top + 12, left:left + 6] = 220

    def rolling(k):
        return lambda x: torch.roll(x, int(torch.randint(-k, k + 1, (1,))), dims=-1)

    transforms = {f"roll up to {k} px": rolling(k) for k in range(2, 2 + n_transforms)}
    torch.manual_seed(seed)
    fig = answer(transforms, image, n)
    if not isinstance(fig, Figure):
        return {"is_figure": False, "type": type(fig).__name__}
    image_axes = [ax for ax in fig.axes if ax.images]
    arrays = {ax.images[0].get_array().tobytes() for ax in image_axes}
    plt.close(fig)
    return {"is_figure": True, "n_image_axes": len(image_axes), "distinct_images": len(arrays)}


def drive_output_shapes(answer, spec, input_shape):
    """Build the layers described by ``spec`` on PyTorch's meta device and ask ``answer`` for their output shapes."""
    import torch
    from torch import nn

    with torch.device("meta"):  # shapes without numbers: VGG16 costs no memory and no time
        if spec == "vgg16":
            from torchvision.models import vgg16

            net = vgg16()
            layers = [*net.features, net.avgpool, nn.Flatten(), *net.classifier]
        else:
            make = {
                "Conv2d": lambda a: nn.Conv2d(a[0], a[1], a[2], stride=a[3], padding=a[4]),
                "MaxPool2d": lambda a: nn.MaxPool2d(a[0], stride=a[1], padding=a[2]),
                "ReLU": lambda a: nn.ReLU(),
                "Dropout": lambda a: nn.Dropout(a[0]),
                "AdaptiveAvgPool2d": lambda a: nn.AdaptiveAvgPool2d(tuple(a[0]) if isinstance(a[0], list) else a[0]),
                "Flatten": lambda a: nn.Flatten(),
                "Linear": lambda a: nn.Linear(a[0], a[1]),
            }
            layers = [make[item[0]](item[1:]) for item in spec]
    result = answer(layers, tuple(input_shape))
    return list(result) if isinstance(result, (list, tuple)) else result


# --------------------------------------------------------------------------- judging transforms
def _basic(got: dict, n_calls: int, min_distinct: int = 2) -> str:
    if "error" in got:
        return got["error"]
    for out in got["outputs"]:
        if out["shape"] != [1, 28, 28] or out["dtype"] != "uint8":
            return (f"for an input of shape (1, 28, 28) and dtype uint8 the transform returned shape "
                    f"{tuple(out['shape'])} and dtype {out['dtype']}: keep both (no ToTensor, no resizing)")
    if got["distinct"] < min_distinct:
        return f"{n_calls} calls gave only {got['distinct']} different image(s): the transform should be random"
    return ""


def _angle_change(a: float, b: float) -> float:
    d = abs(a - b) % 180
    return min(d, 180 - d)


def _judge_rotate_invert(expected: dict, got: dict) -> Outcome:
    problem = _basic(got, expected["n_calls"])
    if problem:
        return Outcome(False, problem)
    outs = got["outputs"]
    inverted = sum(o["inverted"] for o in outs)
    if inverted == 0:
        return Outcome(False, f"none of {len(outs)} outputs had inverted gray levels: add a random invert (RandomInvert)")
    if inverted == len(outs):
        return Outcome(False, f"all {len(outs)} outputs were inverted: the invert should happen only some of the time (p < 1)")
    angle_in = got["input"]["angle"]
    turned = sum(_angle_change(o["angle"], angle_in) > 4 for o in outs if o["mass"] > 0)
    if turned < 3:
        return Outcome(False, f"the bar in the test image kept its direction in {len(outs) - turned} of {len(outs)} outputs: "
                              "rotate it by a random angle (RandomRotation, or RandomAffine(degrees))")
    mass_in = got["input"]["mass"]
    kept = sum(0.6 < o["mass"] / mass_in < 1.5 for o in outs)
    if kept < len(outs) // 2:
        return Outcome(False, "most outputs lost or gained much of the image's content: rotate and invert, no more")
    return Outcome(True)


def _judge_shift_scale(expected: dict, got: dict) -> Outcome:
    problem = _basic(got, expected["n_calls"])
    if problem:
        return Outcome(False, problem)
    outs, ref = got["outputs"], got["input"]
    if any(o["inverted"] for o in outs):
        return Outcome(False, "some outputs are inverted: shift and scale only")
    present = [o for o in outs if o["mass"] > 0.2 * ref["mass"]]
    if len(present) < len(outs) // 2:
        return Outcome(False, "in most outputs the content left the image: shift less (e.g. translate=(0.1, 0.1))")
    rotated = [o for o in present if _angle_change(o["angle"], ref["angle"]) > 10]
    if len(rotated) > len(present) // 4:
        return Outcome(False, f"the bar changed direction in {len(rotated)} of {len(present)} outputs: "
                              "this transform should shift and scale, not rotate or shear")
    ratios = [o["size"] / ref["size"] for o in present]
    scaled = sum(abs(r - 1) > 0.04 for r in ratios)
    if scaled < 3:
        return Outcome(False, f"the content kept its size in {len(present) - scaled} of {len(present)} outputs: "
                              "scale it by a random factor (RandomAffine(0, scale=(0.8, 1.2)))")
    center = 13.5
    moved = 0
    for o, r in zip(present, ratios):  # where scaling alone (about the center) would have put the bar's center
        py, px = center + r * (ref["cy"] - center), center + r * (ref["cx"] - center)
        moved += ((o["cy"] - py) ** 2 + (o["cx"] - px) ** 2) ** 0.5 > 1.0
    if moved < 3:
        return Outcome(False, f"the content did not move in {len(present) - moved} of {len(present)} outputs: "
                              "shift it by a random amount (RandomAffine(0, translate=(0.1, 0.1)))")
    return Outcome(True)


def _judge_my_transform(expected: dict, got: dict) -> Outcome:
    problem = _basic(got, expected["n_calls"])
    if problem:
        return Outcome(False, problem)
    if all(o["same"] for o in got["outputs"]):
        return Outcome(False, "the transform never changed the image")
    return Outcome(True)


def _transform_cases():
    def fixed():
        return [Case((7, N_CALLS), {"n_calls": N_CALLS}, f"{N_CALLS} calls on a bar image (seed 7)")]

    def random(rng):
        seed = int(rng.integers(10, 10**6))
        return [Case((seed, N_CALLS), {"n_calls": N_CALLS}, f"{N_CALLS} calls on another bar image (seed {seed})")]

    return fixed, random


_ri_fixed, _ri_random = _transform_cases()
rotate_invert = Question(
    answer="rotate_invert",
    title="rotate_invert",
    points=2,
    probe=drive_transform,
    hint="transforms.Compose([transforms.RandomAffine(180), transforms.RandomInvert()]) — a random rotation, then "
         "a random color invert (p < 1); it must take and return a uint8 tensor of shape (1, 28, 28).",
    fixed=_ri_fixed,
    random=_ri_random,
    compare=_judge_rotate_invert,
)

_ss_fixed, _ss_random = _transform_cases()
shift_scale = Question(
    answer="shift_scale",
    title="shift_scale",
    points=2,
    probe=drive_transform,
    hint="transforms.RandomAffine(degrees=0, translate=(a, b), scale=(low, high)): random shifts and a random "
         "zoom, no rotation; keep the content mostly inside the image.",
    fixed=_ss_fixed,
    random=_ss_random,
    compare=_judge_shift_scale,
)

_my_fixed, _my_random = _transform_cases()
my_transform = Question(
    answer="my_transform",
    title="my_transform",
    points=1,
    probe=drive_transform,
    hint="any transforms.Compose([...]) of random transforms that keeps the shape (1, 28, 28) and the dtype uint8.",
    fixed=_my_fixed,
    random=_my_random,
    compare=_judge_my_transform,
)


# --------------------------------------------------------------------------- the grid of samples
def _judge_grid(expected: dict, got: dict) -> Outcome:
    if not got.get("is_figure"):
        return Outcome(False, f"plot_samples should return a matplotlib Figure, got {got.get('type')}")
    rows, n = expected["rows"], expected["n"]
    allowed = (rows * n, rows * (n + 1))
    if got["n_image_axes"] not in allowed:
        return Outcome(False, f"for {rows} transforms and n={n} the figure should show {rows * n} images "
                              f"({rows * (n + 1)} with each row's original), it shows {got['n_image_axes']}")
    if got["distinct_images"] < rows + 1:
        return Outcome(False, "the images in the grid are (almost) all the same: call the transform once per sample")
    return Outcome(True)


plot_samples = Question(
    answer="plot_samples",
    title="plot_samples",
    points=1,
    probe=drive_plot_samples,
    hint="fig, axes = plt.subplots(len(transforms), n, squeeze=False); in row i call the i-th transform n times "
         "and imshow each result (x[0]); return fig.",
    fixed=lambda: [Case((0, 3, 5), {"rows": 3, "n": 5}, "3 transforms, n=5")],
    random=lambda rng: [Case((int(rng.integers(1, 10**6)), int(rows), int(n)), {"rows": int(rows), "n": int(n)},
                             f"{int(rows)} transforms, n={int(n)}")
                        for rows, n in [(rng.integers(1, 5), rng.integers(2, 7))]],
    compare=_judge_grid,
)


# --------------------------------------------------------------------------- VGG16's output shapes
CNN_SPEC = [["Conv2d", 1, 64, 3, 1, 0], ["MaxPool2d", 2, 2, 0], ["ReLU"], ["Conv2d", 64, 128, 3, 1, 0],
            ["MaxPool2d", 2, 2, 0], ["ReLU"], ["Flatten"], ["Linear", 3200, 200], ["ReLU"], ["Linear", 200, 10]]


def _describe(spec) -> list[str]:
    if spec == "vgg16":
        import torch
        from torch import nn
        from torchvision.models import vgg16

        with torch.device("meta"):
            net = vgg16()
        return [repr(m) for m in [*net.features, net.avgpool, nn.Flatten(), *net.classifier]]
    return [f"{item[0]}({', '.join(map(str, item[1:]))})" for item in spec]


def _shape_case(spec, input_shape, shown: str) -> Case:
    from cslib.models import layer_output_shapes

    shapes = drive_output_shapes(layer_output_shapes, spec, input_shape)
    return Case((spec, list(input_shape)), {"shapes": [list(s) for s in shapes], "layers": _describe(spec),
                                            "input_shape": list(input_shape)}, shown)


def _random_spec(rng) -> tuple[list, list[int]]:
    """A random small CNN (conv/pool/relu blocks, maybe adaptive pooling, then a dense head) that is valid."""
    from cslib.models import layer_output_shapes

    for _ in range(100):
        channels = int(rng.integers(1, 4))
        input_shape = [channels, int(rng.integers(16, 48)), int(rng.integers(16, 48))]
        spec, c = [], channels
        for _ in range(int(rng.integers(1, 4))):
            out, k = int(rng.choice([4, 8, 16])), int(rng.choice([1, 3, 5]))
            spec += [["Conv2d", c, out, k, int(rng.choice([1, 1, 2])), int(rng.integers(0, k // 2 + 2))], ["ReLU"]]
            c = out
            if rng.random() < 0.7:
                pk = int(rng.choice([2, 3]))
                spec.append(["MaxPool2d", pk, int(rng.choice([pk, 1, 2])), int(rng.integers(0, pk // 2 + 1))])
        if rng.random() < 0.5:
            size = int(rng.integers(1, 4))
            spec.append(["AdaptiveAvgPool2d", size if rng.random() < 0.5 else [size, int(rng.integers(1, 4))]])
        spec.append(["Flatten"])
        try:
            flat = drive_output_shapes(layer_output_shapes, spec, input_shape)[-1][0]
        except RuntimeError:  # a feature map shrank below 1x1: draw again
            continue
        hidden = int(rng.integers(5, 50))
        spec += [["Linear", flat, hidden], ["ReLU"], ["Dropout", round(float(rng.uniform(0.1, 0.6)), 2)],
                 ["Linear", hidden, int(rng.integers(2, 12))]]
        return spec, input_shape
    raise RuntimeError("could not draw a valid random network")  # pragma: no cover


def _judge_shapes(expected: dict, got) -> Outcome:
    want = expected["shapes"]
    if not isinstance(got, list):
        return Outcome(False, f"vgg_output_shapes should return a list with one shape per layer, got {type(got).__name__}")
    if len(got) != len(want):
        return Outcome(False, f"expected {len(want)} shapes (one per layer), got {len(got)}")
    for i, (w, g) in enumerate(zip(want, got)):
        g_list = list(g) if isinstance(g, (list, tuple)) else g
        if not isinstance(g_list, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in g_list):
            return Outcome(False, f"layer {i + 1}: each shape should be a tuple of ints such as (64, 224, 224), got {g!r}")
        if g_list != w:
            extra = " (leave out the batch dimension)" if len(g_list) == len(w) + 1 else ""
            return Outcome(False, f"input shape {tuple(expected['input_shape'])}, layer {i + 1}, {expected['layers'][i]}: "
                                  f"expected output shape {tuple(w)}, got {tuple(g_list)}{extra}")
    return Outcome(True)


vgg_output_shapes = Question(
    answer="vgg_output_shapes",
    title="vgg_output_shapes",
    points=3,
    probe=drive_output_shapes,
    hint="out = (size + 2 * padding - kernel_size) // stride + 1 for Conv2d and MaxPool2d (MaxPool2d's stride defaults "
         "to its kernel size); Conv2d sets the channels to out_channels; AdaptiveAvgPool2d gives its output_size; "
         "Flatten multiplies everything; Linear gives (out_features,); ReLU and Dropout keep the shape.",
    fixed=lambda: [_shape_case("vgg16", (3, 224, 224), "VGG16's layers, input (3, 224, 224)"),
                   _shape_case(CNN_SPEC, (1, 28, 28), "lecture 2's CNN, input (1, 28, 28)")],
    random=lambda rng: [_shape_case(*_random_spec(rng), "a random small CNN") for _ in range(2)]
                       + [_shape_case("vgg16", (3, int(s), int(s)), f"VGG16's layers, input (3, {int(s)}, {int(s)})")
                          for s in [rng.choice([64, 100, 160, 256])]],
    compare=_judge_shapes,
    reject=("cslib.models.layer_output_shapes",),
)

QUESTIONS = [rotate_invert, shift_scale, my_transform, plot_samples, vgg_output_shapes]
