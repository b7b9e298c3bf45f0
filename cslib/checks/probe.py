"""Turn a student's answer into plain data: numbers, strings, lists, dicts and arrays only.

Checks never compare a student's object directly (an object whose ``__eq__`` always says True
would pass). They compare what :func:`to_data` makes of it. The grader sends this file's
source into the student's kernel and runs it there in a fresh namespace, so patching
``cslib`` inside the notebook changes nothing. Only the standard library, NumPy and torch
are used, and everything is imported inside the functions.

This file also holds the one encoding of arrays that crosses the kernel boundary, both ways:
:func:`encode_array` and :func:`decode_array` (``{"$ndarray": {"data": base64 bytes, "dtype",
"shape"}}``, exact), used for the grader's case arguments (``cslib.grade.lab.encode_value``),
for answers (:func:`to_data`) and for trained weights (:func:`ship_model`). A float that is not
finite travels as ``{"$float": "nan"}``.
"""


def encode_array(array):
    """``array`` (anything NumPy makes an array of numbers from) as ``{"$ndarray": {"data", "dtype", "shape"}}``:
    its bytes in base64, its NumPy dtype string and its shape, so that :func:`decode_array` rebuilds it exactly."""
    import base64

    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"arrays of {'Python objects' if array.dtype == object else array.dtype} are not supported; "
                        "use numbers")
    data = base64.b64encode(array.tobytes(order="C")).decode("ascii")  # (tobytes, not ascontiguousarray: 0-d stays 0-d)
    return {"$ndarray": {"data": data, "dtype": array.dtype.str, "shape": [int(n) for n in array.shape]}}


def decode_array(value):
    """The array :func:`encode_array` encoded (``value`` is the dict under ``"$ndarray"``); ValueError for anything
    else: a dtype that is not a number, a shape that is not a list of sizes, or bytes that do not fill the shape."""
    import base64
    import binascii
    import math

    import numpy as np

    if not isinstance(value, dict):
        raise ValueError("an encoded array is a dict")
    data, dtype, shape = value.get("data"), value.get("dtype"), value.get("shape")
    if not isinstance(data, str) or not isinstance(dtype, str) or not isinstance(shape, list) \
            or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise ValueError("an encoded array has base64 'data', a 'dtype' string and a 'shape' list of sizes")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"unknown dtype {value['dtype'][:40]!r}") from None
    if dtype.kind not in "biufc":
        raise ValueError(f"arrays of {dtype} are not numbers")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the array's data are not base64") from None
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"{len(raw)} bytes for a shape of {math.prod(shape)} numbers of {dtype.itemsize} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def to_data(obj, _depth=0):
    """A JSON-compatible copy of ``obj``; arrays and tensors become :func:`encode_array`'s ``{"$ndarray": ...}``, of
    bools, int64 or float64 (what is compared is the values and their kind, not the student's exact dtype)."""
    import math

    import numpy as np

    if _depth > 20:
        raise TypeError("nested too deeply")
    if obj is None:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else {"$float": repr(value)}
    import sys

    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported: no import here
    if torch is not None:
        if isinstance(obj, torch.Size):
            return [int(v) for v in obj]
        if torch.is_tensor(obj):
            obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biuf":  # objects, strings, complex numbers
            raise TypeError(f"arrays of {'Python objects' if arr.dtype == object else arr.dtype} are not supported; use numbers")
        kind = arr.dtype.kind
        wide = np.uint64 if kind == "u" and arr.dtype.itemsize == 8 else np.int64  # uint64 does not fit int64
        return encode_array(arr.astype({"b": bool, "i": np.int64, "u": wide}.get(kind, np.float64)))
    if isinstance(obj, str):
        return str(obj)  # a str subclass becomes a plain str
    if isinstance(obj, (list, tuple)):
        return [to_data(v, _depth + 1) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_data(v, _depth + 1) for k, v in obj.items()}
    raise TypeError(f"answers of type {type(obj).__name__} cannot be checked; use numbers, strings, lists, dicts, arrays or tensors")


def describe_model(model, input_shape=None):
    """The layers of a torch model (type and settings, in order), its parameter count and output shape."""
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch nn.Module, got {type(model).__name__}")
    keys = ("in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride", "padding",
            "num_features", "p", "output_size")
    layers = []
    for _, module in model.named_modules():
        if len(list(module.children())) > 0:
            continue  # only leaves: Sequential and custom containers just hold them
        info = {"type": type(module).__name__}
        for key in keys:
            if hasattr(module, key):
                value = getattr(module, key)
                info[key] = list(value) if isinstance(value, tuple) else value
        info["params"] = int(sum(p.numel() for p in module.parameters(recurse=False)))
        info["trainable"] = int(sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad))
        layers.append(info)
    out = {
        "layers": layers,
        # one nn.Sequential (nested ones allowed), not a class of one's own with a forward() to write
        "container": type(model).__name__,
        "sequential": all(isinstance(m, nn.Sequential) for m in model.modules() if len(list(m.children())) > 0)
                      and type(model).forward is nn.Sequential.forward,
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "n_trainable": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
    }
    if input_shape is not None:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                param = next(model.parameters(), None)
                x = torch.zeros(*input_shape, device=param.device if param is not None else "cpu")
                out["output_shape"] = [int(s) for s in model(x).shape]
        except Exception as e:  # layers that do not fit together: compare_models names the layer first
            out["forward_error"] = f"{type(e).__name__}: {e}"
        finally:
            model.train(was_training)
    return out


def run_probe(obj, probe, args):
    """What a question asks of the answer ``obj``: call it, take it as is, or describe a model.

    ``probe`` may also be a self-contained function ``driver(answer, *args)`` (its imports inside
    it), which the grader sends into the student's kernel as source, like this file.
    """
    if probe in ("call", "call_model"):  # (a driver's answer may be a transform object: the driver knows)
        _not_a_function(obj, "a function that returns a model" if probe == "call_model" else "a function")
    if callable(probe):
        return to_data(probe(obj, *args))
    if probe == "value":
        return to_data(obj)
    if probe == "call":
        if not callable(obj):
            raise TypeError(f"expected a function, got {type(obj).__name__}")
        return to_data(obj(*args))
    if probe == "model":
        return describe_model(obj, *args)
    if probe == "call_model":
        if not callable(obj):
            raise TypeError(f"expected a function that returns a model, got {type(obj).__name__}")
        *call_args, input_shape = args
        return describe_model(obj(*call_args), input_shape)
    raise ValueError(f"unknown probe {probe!r}")


def _not_a_function(obj, wanted):
    """A common slip, named before the answer runs deep into PyTorch: a network where a function is asked."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        raise TypeError(f"expected {wanted}, got a network ({type(obj).__name__}): write a function (def ...) that "
                        "builds or uses it, as the question says, rather than the network itself")


# --------------------------------------------------------------------------- rejected reference functions
def find_references(names):
    """[(name, object)] for the rejected reference functions named "module.qualname" (their modules imported)."""
    import importlib

    found = []
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                for attribute in parts[cut:]:
                    obj = getattr(obj, attribute)
            except Exception:
                continue
            found.append((name, obj))
            break
    return found


def wrapped_references(answer, references):
    """Names of the references that ``answer`` is, or wraps (functools.partial, __wrapped__, a bound method)."""
    import functools
    import types

    hits = set()
    obj = answer
    for _ in range(20):
        for name, reference in references:
            if obj is reference:
                hits.add(name)
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif isinstance(obj, types.FunctionType) and "__wrapped__" in obj.__dict__:  # functools.wraps
            obj = obj.__dict__["__wrapped__"]
        else:
            break
    return hits


def watch_references(references, hits):
    """Start recording into ``hits`` the references that run (Python functions by their code, C functions
    when Python code calls them); returns the function that stops it."""
    import sys
    import threading

    codes = {id(getattr(obj, "__code__", None)): name for name, obj in references if hasattr(obj, "__code__")}
    functions = {id(obj): name for name, obj in references if not hasattr(obj, "__code__")}
    keep = list(references)  # the ids above stay valid while this list holds the objects

    def profiler(frame, event, arg):
        if event == "call":
            name = codes.get(id(frame.f_code))
            if name is not None:
                hits.add(name)
        elif event == "c_call":
            name = functions.get(id(arg))
            if name is not None:
                hits.add(name)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    threading.setprofile(profiler)

    def stop():
        sys.setprofile(previous)
        threading.setprofile(None)
        keep.clear()

    return stop


def with_models(answer, replace):
    """``answer`` (dicts and lists of runs) with every run's ``"model"`` that is an ``nn.Module`` replaced by
    ``replace(model)``, any other ``"model"`` and any module elsewhere by ``{"type": its class name}``."""
    import torch

    def plain(value):
        if isinstance(value, torch.nn.Module):
            return {"type": type(value).__name__}
        if isinstance(value, dict):
            found = {k: plain(v) for k, v in value.items() if k != "model"}
            if "model" in value:
                model = value["model"]
                found["model"] = replace(model) if isinstance(model, torch.nn.Module) else {"type": type(model).__name__}
            return found
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(answer)


def ship_model(model):
    """A trained model as plain data, for a judge that loads it into a network it builds itself and measures that
    (:func:`cslib.checks.weights.load_shipped`): its class name, its number of trainable parameters and its
    ``state_dict`` in order, each tensor as ``[name, encode_array(...)]`` (float32 or int64: as compact as exact)."""
    import torch

    tensors = []
    for name, value in model.state_dict().items():
        if not torch.is_tensor(value):
            continue
        value = value.detach().cpu()
        tensors.append([str(name), encode_array((value.float() if value.is_floating_point() else value.long()).numpy())])
    trainable = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return {"type": type(model).__name__, "trainable": trainable, "weights": tensors}


def shipped_runs(answer):
    """``answer`` (a dict of lists of runs) with each run's ``"model"`` replaced by :func:`ship_model`'s plain data:
    nothing is measured here, in the kernel; the judge measures (see ``cslib.checks.weights``)."""
    return with_models(answer, ship_model)
