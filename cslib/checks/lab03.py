"""Checks for lab 3 (data augmentation, VGG16's output sizes). In the lab: ``from cslib.checks import lab03 as check``.

The transform questions call the student's transform many times on a test image the student did not
choose (a bright bar on a black background, at a random place) and measure what came out: shape and
dtype, whether the gray levels were inverted, where the bar's center went, how big it is and which way
it points (from its image moments). Any transform that does what the question asks passes, whatever
library or parameters it uses.
"""
from __future__ import annotations

import functools

from cslib.checks import Case, Outcome, Question, as_int, as_number, describe

N_CALLS = 40


# --------------------------------------------------------------------------- drivers (self-contained)
def drive_transform(answer, seed, n_calls, watch=""):
    """Call the transform ``n_calls`` times on a uint8 (1, 28, 28) bar image and measure every output.

    When the outputs leave a doubt (all the same; with ``watch="invert"``, all or none inverted), the random
    parts that happen with a probability ``p`` (RandomInvert, RandomApply, flips...) are run again with ``p``
    set to 1 and to 0 on copies of the transform, so that a rare (or near-certain) event is seen without luck.
    With ``watch="parts"`` each part of a composed transform is also tried alone, to count the parts that
    change the image.
    """
    import copy
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

    def run(transform, calls=n_calls):
        outputs, seen = [], set()
        for _ in range(calls):
            out = transform(image.clone())
            if not torch.is_tensor(out):
                return {"error": f"the transform returned a {type(out).__name__}, not a tensor"}
            info = {"shape": [int(s) for s in out.shape], "dtype": str(out.dtype).replace("torch.", "")}
            if info["shape"] == [1, 28, 28] and out.dtype == torch.uint8:
                inverted = float(out.float().median()) > 127
                info.update(measure(out, inverted), inverted=inverted, same=bool(torch.equal(out, image)))
                seen.add(out.numpy().tobytes())
            outputs.append(info)
        return {"outputs": outputs, "distinct": len(seen), "seen": seen}

    def inner(t):  # what a composed transform (Compose, RandomApply/Choice/Order, nn.Sequential) is made of
        if isinstance(t, torch.nn.Sequential):
            return list(t)
        parts = getattr(t, "transforms", None)
        return list(parts) if isinstance(parts, (list, tuple, torch.nn.ModuleList)) else None

    def nodes(t):  # t and everything it is composed of
        return [t] + [n for sub in (inner(t) or []) for n in nodes(sub)]

    def parts(t):  # the transforms that do the work: the leaves of the composition
        return [t] if inner(t) is None else [leaf for sub in inner(t) for leaf in parts(sub)]

    def chance(t):  # the nodes whose effect happens with a probability 0 < p < 1
        return [n for n in nodes(t) if isinstance(getattr(n, "p", None), float) and 0 < n.p < 1]

    def with_p(t, value):
        try:
            t = copy.deepcopy(t)
        except Exception:
            return None
        for n in chance(t):
            n.p = value
        return t

    # An asymmetric pattern (the bar and a spot): any flip, rotation, shift or filter changes it.
    pattern = image.clone()
    pattern[0, 3:7, 3:6] = 120

    def changes(part):
        if isinstance(getattr(part, "p", None), float) and 0 < part.p < 1:
            part = with_p(part, 1.0)
            if part is None:
                return False
        for scale in (None, 255.0):
            x = pattern.clone() if scale is None else pattern.float() / scale
            try:
                outs = [part(x.clone()) for _ in range(6)]
            except Exception:
                continue
            for out in outs:
                if not torch.is_tensor(out) or tuple(out.shape) != (1, 28, 28):
                    return torch.is_tensor(out)
                a = out.detach().float()
                if out.is_floating_point() and float(a.max()) <= 1.0 + 1e-6:
                    a = a * 255
                if float((a - pattern.float()).abs().max()) > 2:
                    return True
            return False
        return False

    if isinstance(answer, type):  # v2.RandomRotation rather than v2.RandomRotation(...): named before it runs
        return {"error": f"{answer.__name__} is a transform class, not a transform: make one with its settings, "
                         f"e.g. {answer.__name__}(...)"}
    torch.manual_seed(seed)
    result = run(answer)
    if "error" in result:
        return result
    result["input"] = measure(image, False)
    result["chance_parts"] = [type(n).__name__ for n in chance(answer)]
    inverted = [o.get("inverted") for o in result["outputs"]]
    doubt = result["distinct"] < 2 or (watch == "invert" and (all(inverted) or not any(inverted)))
    variants = {}
    for name, value in (("always", 1.0), ("never", 0.0)):
        variant = with_p(answer, value) if result["chance_parts"] and doubt else None
        if variant is not None:
            torch.manual_seed(seed)
            variants[name] = run(variant, max(n_calls // 2, 1))
            if "error" not in variants[name]:
                result[name] = variants[name]["outputs"]
    # a part with 0 < p < 1 that changes the image makes the transform random, however rare its turn
    result["chance_changes"] = bool(len(variants) == 2 and "error" not in variants["always"] and "error" not in variants["never"]
                                    and variants["always"]["seen"] != variants["never"]["seen"])
    del result["seen"]
    if watch == "parts":
        torch.manual_seed(seed)
        result["parts"] = [{"name": type(p).__name__, "changes": changes(p)} for p in parts(answer)]
    return result


def drive_plot_samples(answer, seed, n_transforms, n):
    """Call the student's grid function with made-up transforms and read back the figure's image axes and texts.

    Every call of every made-up transform gives a different image (a shift by (row, k) pixels with a new k
    each time), so a grid that calls the transform once per sample shows rows × n different samples, whatever
    the luck of the draw.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    g = torch.Generator().manual_seed(seed)
    made = {}  # each sample's pixels -> the row of the transform that made it

    def key(array):  # an image as shown, whatever its type: uint8, or floats in [0, 1] or [0, 255]
        array = np.asarray(array, dtype=float).squeeze()
        return np.rint(array * (255 if array.max() <= 1 else 1)).astype(np.uint8).tobytes()

    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    top, left = int(torch.randint(4, 12, (1,), generator=g)), int(torch.randint(4, 16, (1,), generator=g))
    image[0, top:top + 12, left:left + 6] = 220

    def shifting(row):
        steps = (torch.randperm(27, generator=g) + 1).tolist()  # 27 different horizontal shifts, none 0
        calls = []

        def transform(x):
            calls.append(1)
            out = torch.roll(x, shifts=(row, steps[(len(calls) - 1) % 27]), dims=(-2, -1))
            made[key(out.numpy())] = row
            return out
        return transform

    names = [f"shift {chr(65 + row)}{int(torch.randint(10, 99, (1,), generator=g))}" for row in range(n_transforms)]
    transforms = {name: shifting(row) for row, name in enumerate(names)}
    torch.manual_seed(seed)
    fig = answer(transforms, image, n)
    if not isinstance(fig, Figure):
        inside = list(getattr(fig, "flat", [fig]))  # an array of axes (fig, axes = plt.subplots(2, 2)) holds its figure too
        return {"is_figure": False, "type": "an array of axes" if hasattr(fig, "flat") else type(fig).__name__,
                "has_figure": any(isinstance(getattr(item, "figure", None), Figure) for item in inside)}

    def bands(centers: list[float], tolerance: float) -> list[int]:
        """The band (grid row or column) of each centre: centres closer than ``tolerance`` to the previous one share it."""
        band, last, found = -1, None, {}
        for k in sorted(range(len(centers)), key=centers.__getitem__):
            if last is None or centers[k] - last > tolerance:
                band += 1
            found[k], last = band, centers[k]
        return [found[k] for k in range(len(centers))]

    panels = [fig]  # the figure and its subfigures (fig.subfigures), each with its own grid of axes and texts
    for panel in panels:
        panels += list(getattr(panel, "subfigs", []))
    image_axes = [ax for ax in fig.axes if ax.images]
    arrays = {ax.images[0].get_array().tobytes() for ax in image_axes}
    boxes = [ax.get_window_extent() for ax in image_axes]  # where each image sits on the figure, subfigures included
    rows = bands([-(b.y0 + b.y1) / 2 for b in boxes], min((b.height for b in boxes), default=1) / 2)  # top row first
    columns = bands([(b.x0 + b.x1) / 2 for b in boxes], min((b.width for b in boxes), default=1) / 2)
    placement = []  # [grid row, grid column, the transform's row] of each sample that can be told apart
    for ax, row, column in zip(image_axes, rows, columns):
        source = made.get(key(ax.images[0].get_array()))
        if source is not None:
            placement.append([row, column, source])
    texts = []
    for panel in panels:
        texts += [t.get_text() for t in panel.texts]
        if getattr(panel, "_suptitle", None) is not None:
            texts.append(panel._suptitle.get_text())
    for ax in fig.axes:
        texts += [ax.get_title(loc) for loc in ("left", "center", "right")] + [ax.get_ylabel(), ax.get_xlabel()]
        texts += [t.get_text() for t in ax.texts]
    plt.close(fig)
    text = " ".join(texts)
    return {"is_figure": True, "n_image_axes": len(image_axes), "distinct_images": len(arrays),
            "unnamed": [name for name in names if name not in text], "placement": placement}


def drive_output_shapes(answer, spec, input_shape, runnable=False):
    """Build the layers described by ``spec`` on PyTorch's meta device and ask ``answer`` for their output shapes.

    The question asks for shapes computed from the layers' settings, so the layers handed to the student
    cannot be run (unless ``runnable``, for the reference): calling one raises an error that says so.
    """
    import torch
    from torch import nn

    with torch.device("meta"):  # shapes without numbers: VGG16 costs no memory and no time
        if spec == "vgg16":  # torchvision's vgg16() as one list of layers (a test checks they are the same)
            layers, channels = [], 3
            for v in [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]:
                if v == 0:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    channels = v
            layers += [nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True),
                       nn.Dropout(p=0.5), nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=0.5), nn.Linear(4096, 1000)]
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
    if not runnable:
        def refuse(*args, **kwargs):
            raise RuntimeError("the check's layers cannot be run: compute each output shape from the layer's settings "
                               "(kernel_size, stride, padding, out_channels, output_size, out_features), not with a "
                               "forward pass")

        for layer in layers:
            layer.forward = refuse
    result = answer(layers, tuple(input_shape))
    return list(result) if isinstance(result, (list, tuple)) else result


# --------------------------------------------------------------------------- judging transforms
def _basic(got: dict, n_calls: int) -> str:
    if "error" in got:
        return got["error"]
    for out in got["outputs"]:
        if out["shape"] != [1, 28, 28] or out["dtype"] != "uint8":
            return (f"for an input of shape (1, 28, 28) and dtype uint8 the transform returned shape "
                    f"{tuple(out['shape'])} and dtype {out['dtype']}: keep both (no ToTensor, no resizing)")
    if got["distinct"] < 2 and not got.get("chance_changes"):
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
    # A part that inverts with a probability p is also seen with p = 1 and p = 0 (drive_transform): no luck needed.
    can_invert = any(o["inverted"] for o in outs + got.get("always", []))
    can_keep = any(not o["inverted"] for o in outs + got.get("never", []))
    if not can_invert:
        return Outcome(False, f"none of {len(outs)} outputs had inverted gray levels: add a random invert (RandomInvert)")
    if not can_keep:
        return Outcome(False, f"all {len(outs)} outputs were inverted: the invert should happen only some of the time (p < 1)")
    angle_in = got["input"]["angle"]
    turned = sum(_angle_change(o["angle"], angle_in) > 4 for o in outs if o["mass"] > 0)
    if turned < 3:
        return Outcome(False, f"the bar in the test image kept its direction in {len(outs) - turned} of {len(outs)} outputs: "
                              "rotate it by a random angle (RandomRotation, or RandomAffine(degrees))")
    angles = [o["angle"] for o in outs if o["mass"] > 0]
    if angles and max(_angle_change(a, angles[0]) for a in angles) < 2:
        return Outcome(False, f"all {len(outs)} outputs are turned by the same angle: the rotation should be random, a new "
                              "angle at every call (RandomRotation, or RandomAffine(degrees)), not one fixed turn")
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
    flips = [name for name in got.get("chance_parts", []) if "Flip" in name]
    if flips:
        return Outcome(False, f"the transform also flips the image ({', '.join(flips)}): shift and scale only, nothing else")
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
    if max(ratios) - min(ratios) < 0.04:
        return Outcome(False, f"every output is scaled by the same factor (about {sum(ratios) / len(ratios):.2f}): the "
                              "factor should be random, a new one at every call (a range, scale=(low, high))")
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
    if all(o["same"] for o in got["outputs"]) and not got.get("chance_changes"):
        return Outcome(False, "the transform never changed the image")
    parts = got.get("parts", [])
    working = [p["name"] for p in parts if p["changes"]]
    if len(working) < 2:
        idle = [p["name"] for p in parts if not p["changes"]]
        found = (f"it has {len(parts)} part{'s' if len(parts) != 1 else ''}" + (f", of which only {working[0]} changes the image"
                 if working and len(parts) > 1 else f" ({', '.join(p['name'] for p in parts)})"))
        if len(parts) == 1:
            found += ": a single transform" + (" (the check sees the parts of a Compose, RandomApply, RandomChoice, "
                                               "RandomOrder or nn.Sequential; a plain function hides them)"
                                               if parts[0]["name"] in ("function", "lambda") else "")
        elif idle:
            found += f" ({', '.join(idle)} left the test image as it was)"
        return Outcome(False, f"my_transform should combine at least two transforms that change the image, "
                              f"e.g. transforms.Compose([transforms.RandomRotation(20), transforms.RandomInvert()]); {found}")
    return Outcome(True)


def _transform_cases(watch: str = ""):
    def fixed():
        return [Case((7, N_CALLS, watch), {"n_calls": N_CALLS}, f"{N_CALLS} calls on a bar image (seed 7)")]

    def random(rng):
        seed = int(rng.integers(10, 10**6))
        return [Case((seed, N_CALLS, watch), {"n_calls": N_CALLS}, f"{N_CALLS} calls on another bar image (seed {seed})")]

    return fixed, random


_ri_fixed, _ri_random = _transform_cases("invert")
rotate_invert = Question(
    answer="rotate_invert",
    title="rotate_invert",
    points=2,
    probe=drive_transform,
    hint="a transforms.Compose([...]) of a random rotation (RandomRotation, or RandomAffine with degrees) and a random "
         "invert that happens some of the time (RandomInvert with p < 1); it must take and return a uint8 tensor of "
         "shape (1, 28, 28).",
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
    hint="one affine transform can do both: no rotation, a random shift (a fraction of the width and height) and a "
         "random zoom (a range of factors); see which arguments torchvision's RandomAffine takes for each (lecture 3, "
         "'Other transformations'), and keep the content mostly inside the image.",
    fixed=_ss_fixed,
    random=_ss_random,
    compare=_judge_shift_scale,
)

_my_fixed, _my_random = _transform_cases("parts")
my_transform = Question(
    answer="my_transform",
    title="my_transform",
    points=1,
    probe=drive_transform,
    hint="a transforms.Compose([...]) of two or more transforms that change the image, at least one of them random; "
         "it must keep the shape (1, 28, 28) and the dtype uint8.",
    fixed=_my_fixed,
    random=_my_random,
    compare=_judge_my_transform,
)


# --------------------------------------------------------------------------- the grid of samples
def _judge_grid(expected: dict, got: dict) -> Outcome:
    if not got.get("is_figure"):
        if got.get("has_figure"):
            return Outcome(False, f"plot_samples returned {got.get('type')}, not the Figure: return fig (from fig, axes = plt.subplots(...))")
        return Outcome(False, f"plot_samples should return a matplotlib Figure, got {got.get('type')}"
                       + (" (plt.show() returns None)" if got.get("type") == "NoneType" else ""))
    rows, n = expected["rows"], expected["n"]
    allowed = (rows * n, rows * (n + 1))
    shown, distinct = got["n_image_axes"], got["distinct_images"]
    if shown not in allowed:
        return Outcome(False, f"for {rows} transform{'s' if rows > 1 else ''} and n={n} the figure should show {rows * n} "
                              f"images ({rows * (n + 1)} with each row's original), it shows {shown}")
    if distinct < rows * n:  # every call of the check's transforms gives a new image (drive_plot_samples)
        if shown == rows * n and distinct == rows * (n - 1) + 1:
            return Outcome(False, f"each row shows the original and {n - 1} samples: draw n={n} samples per transform "
                                  "(and, if you like, the original in an extra first column)")
        if distinct <= rows + 1:
            return Outcome(False, "each row repeats one image: call the transform once per sample (inside the loop over "
                                  "the columns), not once per row")
        return Outcome(False, f"the grid shows {distinct} different images where {rows * n} samples were expected: call the "
                              "transform once for every sample you draw")
    grid_rows: dict[int, set] = {}
    samples: dict[int, int] = {}
    for grid_row, _, source in got.get("placement") or []:
        grid_rows.setdefault(source, set()).add(grid_row)
        samples[source] = samples.get(source, 0) + 1
    wrong = sorted({count for count in samples.values() if count != n})
    if wrong:
        return Outcome(False, f"a row shows {wrong[0]} samples of its transform where n={n}: draw n samples per "
                              "transform (n is an argument: use it, not a number of your own)")
    if any(len(used) > 1 for used in grid_rows.values()):
        return Outcome(False, "the samples of one transform are spread over several rows: the grid has one row per "
                              "transform and one column per sample (is it transposed?)")
    if got.get("unnamed"):
        return Outcome(False, f"the figure does not name the row(s) {got['unnamed']}: give each row its transform's name "
                              "(a title over its first sample, or a y-label)")
    return Outcome(True)


plot_samples = Question(
    answer="plot_samples",
    title="plot_samples",
    points=1,
    probe=drive_plot_samples,
    hint="a grid of one row per transform and n columns (with squeeze=False, plt.subplots keeps a 2-D grid even for "
         "one row); in each row, call that row's transform once per column and show each result; name each row after "
         "its transform (a title over its first image, or a y-label); return the figure.",
    fixed=lambda: [Case((0, 3, 5), {"rows": 3, "n": 5}, "3 transforms, n=5"),
                   Case((1, 2, 3), {"rows": 2, "n": 3}, "2 transforms, n=3")],
    # n never the default (5) and never the number of rows: an answer that ignores n, or a transposed grid, fails
    random=lambda rng: [Case((int(rng.integers(1, 10**6)), rows, n), {"rows": rows, "n": n},
                             f"{rows} transform{'s' if rows > 1 else ''}, n={n}")
                        for rows in [int(rng.integers(1, 4))]
                        for n in [int(rng.choice([v for v in (2, 3, 4) if v != rows]))]],
    compare=_judge_grid,
)


# --------------------------------------------------------------------------- VGG16's output shapes
CNN_SPEC = [["Conv2d", 1, 64, 3, 1, 0], ["MaxPool2d", 2, 2, 0], ["ReLU"], ["Conv2d", 64, 128, 3, 1, 0],
            ["MaxPool2d", 2, 2, 0], ["ReLU"], ["Flatten"], ["Linear", 3200, 200], ["ReLU"], ["Linear", 200, 10]]


@functools.lru_cache(maxsize=1)
def _vgg16_layers_described() -> tuple[str, ...]:
    import torch
    from torch import nn
    from torchvision.models import vgg16

    with torch.device("meta"):
        net = vgg16()
    return tuple(repr(m) for m in [*net.features, net.avgpool, nn.Flatten(), *net.classifier])


@functools.lru_cache(maxsize=16)
def _vgg16_shapes(input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    from cslib.models import layer_output_shapes

    return tuple(drive_output_shapes(layer_output_shapes, "vgg16", input_shape, runnable=True))


def _describe(spec) -> list[str]:
    if spec == "vgg16":
        return list(_vgg16_layers_described())
    return [f"{item[0]}({', '.join(map(str, item[1:]))})" for item in spec]


def _shape_case(spec, input_shape, shown: str, shapes=None) -> Case:
    from cslib.models import layer_output_shapes

    if spec == "vgg16":
        shapes = _vgg16_shapes(tuple(input_shape))
    elif shapes is None:
        shapes = drive_output_shapes(layer_output_shapes, spec, input_shape, runnable=True)
    return Case((spec, list(input_shape)), {"shapes": [list(s) for s in shapes], "layers": _describe(spec),
                                            "input_shape": list(input_shape)}, shown)


def _random_spec(rng) -> tuple[list, list[int], list[tuple[int, ...]]]:
    """A random small CNN (conv/pool/relu blocks, maybe adaptive pooling, then a dense head) that is valid:
    its layers, its input shape, and its output shapes (a forward pass on the meta device, then the head)."""
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
            shapes = drive_output_shapes(layer_output_shapes, spec, input_shape, runnable=True)
        except RuntimeError:  # a feature map shrank below 1x1: draw again
            continue
        hidden, classes = int(rng.integers(5, 50)), int(rng.integers(2, 12))
        spec += [["Linear", shapes[-1][0], hidden], ["ReLU"], ["Dropout", round(float(rng.uniform(0.1, 0.6)), 2)],
                 ["Linear", hidden, classes]]
        return spec, input_shape, [*shapes, (hidden,), (hidden,), (hidden,), (classes,)]
    raise RuntimeError("could not draw a valid random network")  # pragma: no cover


def _judge_shapes(expected: dict, got) -> Outcome:
    want = expected["shapes"]
    if not isinstance(got, list):
        return Outcome(False, f"vgg_output_shapes should return a list with one shape per layer, got {describe(got)}")
    if len(got) != len(want):
        return Outcome(False, f"expected {len(want)} shapes (one per layer), got {len(got)}")
    for i, (w, g) in enumerate(zip(want, got)):
        g_list = g.tolist() if hasattr(g, "tolist") and getattr(g, "ndim", 0) == 1 else g
        if not isinstance(g_list, list) or not g_list or any(as_number(v) is None for v in g_list):
            return Outcome(False, f"layer {i + 1}: each shape should be a tuple of ints such as (64, 224, 224), got {describe(g)}")
        sizes = [as_int(v) for v in g_list]
        if None in sizes:
            return Outcome(False, f"input shape {tuple(expected['input_shape'])}, layer {i + 1}, {expected['layers'][i]}: "
                                  f"the shape {tuple(g_list)} holds a size that is not a whole number: sizes are integers, "
                                  "and the formula rounds down (use integer division //)")
        if sizes != w:
            extra = " (leave out the batch dimension)" if len(sizes) == len(w) + 1 else ""
            return Outcome(False, f"input shape {tuple(expected['input_shape'])}, layer {i + 1}, {expected['layers'][i]}: "
                                  f"expected output shape {tuple(w)}, got {tuple(sizes)}{extra}")
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
    random=lambda rng: [_shape_case(spec, shape, "a random small CNN", shapes)
                        for spec, shape, shapes in (_random_spec(rng) for _ in range(2))]
                       + [_shape_case("vgg16", (3, int(s), int(s)), f"VGG16's layers, input (3, {int(s)}, {int(s)})")
                          for s in [rng.choice([64, 100, 160, 256])]],
    compare=_judge_shapes,
    reject=("cslib.models.layer_output_shapes",),
)

QUESTIONS = [rotate_invert, shift_scale, my_transform, plot_samples, vgg_output_shapes]
