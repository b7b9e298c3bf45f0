"""Code the grader sends, as source, into a student's kernel: the output cap and the question runner.

Nothing here is imported by the student's kernel. The grader's worker (``cslib.grade.worker``)
reads the source of these functions with :mod:`inspect` and executes it inside the kernel in a
private namespace, next to the source of :mod:`cslib.checks.probe`. So a notebook that
monkeypatches ``cslib`` changes nothing here. The rules for that to work:

- every function imports what it needs inside its body (no module globals), and
- functions call each other only by the names they have in this file (they share the private
  namespace they are executed in).

``prepare_kernel`` runs once per kernel, before any student cell: it caps the output of each
cell and keeps IPython's ``exit()`` from ending the kernel (it raises ``SystemExit`` in the cell
instead). ``run_question`` runs one question's cases on the student's answer and prints a single
JSON payload framed by a nonce the grader drew after the student's cells had run; it also says
whether the answer called one of the question's rejected reference functions (directly, or
through a wrapper function, a lambda or ``functools.partial``).

Nothing here is a boundary: whatever runs in the kernel, a notebook can undo. What keeps a kernel
away from the grader's files, the network and other processes is the OS sandbox and the cgroup
it runs in (``cslib.grade.sandbox``, ``cslib.grade.limits``); what decides the points is the
grader's own process (``cslib.grade.scoring``). See docs/grading.md, "What the grader guarantees".
"""


def prepare_kernel(config):
    """Prepare a fresh kernel for grading, before any student cell. ``config``: output_limit, tag.

    - ``output_limit``: characters of output (stdout, stderr, display data) kept per cell;
    - ``tag``: the text that starts every message of the grader's.

    Neither is a security boundary (a notebook can undo both): the output cap keeps an honest mistake
    (a print in a loop) from filling the grader's memory, and the worker counts what arrives anyway.
    """
    _cap_output(config["output_limit"], config["tag"])
    _keep_kernel_on_exit()


def _keep_kernel_on_exit():
    """Make IPython's ``exit()``/``quit()`` raise SystemExit in the cell (an error there) instead of ending the kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - grading always runs in an IPython kernel
        return
    shell = get_ipython()
    if shell is None:  # pragma: no cover
        return

    def ask_exit():
        raise SystemExit("exit() and quit() do not end the kernel while grading")

    shell.ask_exit = ask_exit


def _cap_output(limit, tag):
    """Drop stdout/stderr/display output beyond ``limit`` characters per cell (one notice per cell)."""
    import sys

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - grading always runs in an IPython kernel
        return
    shell = get_ipython()
    if shell is None:  # pragma: no cover
        return
    state = {"used": 0, "noticed": False}

    def reset(*_):
        state["used"] = 0
        state["noticed"] = False

    shell.events.register("pre_execute", reset)
    shell._cslib_grader_stdout = sys.stdout  # run_question prints here even if a notebook replaces sys.stdout
    notice = f"\n{tag} output over {limit:,} characters in this cell was dropped\n"
    stdout = sys.stdout

    def write_stdout(text):  # the stream class's own write: no wrapper of IPython's or of a notebook's
        return type(stdout).write(stdout, text)

    def over_limit(size, write_notice):
        """Count ``size`` characters of this cell's output; past the limit, say so once and return True."""
        state["used"] += size
        if state["used"] <= limit:
            return False
        if not state["noticed"]:
            state["noticed"] = True
            write_notice(notice)
        return True

    def capped(original):
        def write(text, *args, **kwargs):
            n = len(text) if isinstance(text, str) else 0
            return n if over_limit(n, original) else original(text, *args, **kwargs)

        write._cslib_capped = True
        return write

    def cap_streams(*_):
        """Wrap the write of sys.stdout and sys.stderr in the cap (once: an already capped one is left alone)."""
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            current = getattr(stream, "write", None)
            if current is None or getattr(current, "_cslib_capped", False):
                continue
            try:
                stream.write = capped(current)
            except (AttributeError, TypeError):  # not an ipykernel stream (e.g. a notebook's io.StringIO)
                pass

    # IPython (9.18 and later) replaces sys.stdout.write at the start of each cell and puts back the one it
    # found at the end (InteractiveShell._tee), which undoes a wrap made in an earlier cell: wrap again at the
    # start of every cell, after IPython's own replacement.
    shell.events.register("pre_execute", cap_streams)
    cap_streams()
    publisher = getattr(shell, "display_pub", None)
    if publisher is not None:
        original_publish = publisher.publish

        def publish(data, *args, **kwargs):
            size = 0
            if isinstance(data, dict):
                for value in data.values():
                    size += len(value) if isinstance(value, (str, bytes)) else 1000
            if over_limit(size, write_stdout):
                return None
            return original_publish(data, *args, **kwargs)

        publisher.publish = publish


def decode_value(data):
    """Rebuild a case argument from the grader's tagged plain-data encoding (see grade.encode_value); arrays and
    tensors with ``decode_array`` of cslib/checks/probe.py, whose source runs next to this one."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    (tag, value), = data.items()
    if tag == "$tuple":
        return tuple(decode_value(v) for v in value)
    if tag == "$dict":
        return {decode_value(k): decode_value(v) for k, v in value}
    if tag == "$float":
        return float(value)
    if tag in ("$ndarray", "$npscalar", "$tensor"):
        array = decode_array(value)
        if tag == "$npscalar":
            return array.reshape(-1)[0]
        if tag == "$ndarray":
            return array
        import torch

        tensor = torch.from_numpy(array)
        if value.get("torch_dtype"):
            tensor = tensor.to(getattr(torch, value["torch_dtype"]))
        return tensor.requires_grad_(bool(value.get("requires_grad")))
    if tag == "$size":
        import torch

        return torch.Size(value)
    if tag == "$torch_dtype":
        import torch

        return getattr(torch, value)
    raise ValueError(f"unknown tag {tag!r}")


def run_question(user_ns, request, nonce):
    """Run one question's cases on the student's answer; print one framed JSON payload.

    ``request``: answer (name), probe ("call", "value", ... or None when ``driver`` names the
    driver function defined next to this one), cases (encoded argument tuples), timeout (seconds
    per case), max_chars (largest result kept per case), reject (the "module.qualname" of reference
    functions the answer may not be, wrap or call). The payload is plain data only; its "references"
    lists the rejected references the answer is, wraps or called.
    """
    import json
    import signal
    import sys
    import threading

    class CaseTimeout(BaseException):
        pass

    def on_alarm(signum, frame):
        raise CaseTimeout()

    def describe(error):
        try:
            text = str(error)
        except BaseException:
            text = "(its message could not be shown)"
        name = type(error).__name__
        return (f"{name}: {text}" if text else name)[:300]

    probe = globals()[request["driver"]] if request.get("driver") else request["probe"]
    payload = {"defined": request["answer"] in user_ns, "module": None, "qualname": None, "cases": []}
    answer = user_ns.get(request["answer"])
    if payload["defined"]:
        for key, attribute in (("module", "__module__"), ("qualname", "__qualname__")):
            try:
                value = getattr(answer, attribute, None)
                payload[key] = str.__str__(value) if isinstance(value, str) else None
            except BaseException:
                payload[key] = None
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    stopped = False
    references = find_references(request.get("reject") or []) if payload["defined"] else []
    called = wrapped_references(answer, references) if references else set()
    for encoded in request["cases"]:
        if not payload["defined"]:
            payload["cases"].append({"ok": False, "kind": "missing", "error": ""})
            continue
        if stopped:
            payload["cases"].append({"ok": False, "kind": "timeout", "error": "not run: the time limit was reached"})
            continue
        previous = None
        try:
            args = tuple(decode_value(encoded))
            if use_alarm:
                previous = signal.signal(signal.SIGALRM, on_alarm)
                signal.setitimer(signal.ITIMER_REAL, request["timeout"], 1.0)
            stop_watching = watch_references(references, called) if references else None
            try:
                got = run_probe(answer, probe, args)
            finally:
                if stop_watching is not None:
                    stop_watching()
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            text = json.dumps(got, allow_nan=False)
            if len(text) > request["max_chars"]:
                result = {"ok": False, "kind": "too_large", "error": f"the result has {len(text):,} characters as data"}
            else:
                result = {"ok": True, "got": json.loads(text)}
        except CaseTimeout:
            result = {"ok": False, "kind": "timeout", "error": f"took longer than {request['timeout']:g} s"}
        except KeyboardInterrupt:
            result = {"ok": False, "kind": "timeout", "error": "interrupted: the time limit was reached"}
            stopped = True
        except NotImplementedError:
            result = {"ok": False, "kind": "not_written", "error": "NotImplementedError"}
        except BaseException as error:  # the student's code failed (SystemExit included)
            result = {"ok": False, "kind": "exception", "error": describe(error)}
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                if previous is not None:
                    signal.signal(signal.SIGALRM, previous)
        payload["cases"].append(result)
    payload["references"] = sorted(called)
    out = sys.stdout
    try:
        from IPython import get_ipython

        shell = get_ipython()
        saved = getattr(shell, "_cslib_grader_stdout", None)
        if saved is not None and saved is not out:  # the notebook replaced sys.stdout
            out = saved
            parent = getattr(shell, "parent_header", None)
            if isinstance(parent, dict) and hasattr(out, "set_parent"):
                out.set_parent(parent)
    except ImportError:  # pragma: no cover - grading always runs in an IPython kernel
        pass
    frame = "\n<<cslib-grade:" + nonce + ">>" + json.dumps(payload) + "<</cslib-grade:" + nonce + ">>\n"
    type(out).write(out, frame)  # the class's write: past the output cap of prepare_kernel
    type(out).flush(out)
