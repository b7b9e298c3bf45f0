"""Code the grader sends, as source, into a student's kernel: the file guard and the question runner.

Nothing here is imported by the student's kernel. The grader's worker (``cslib.grade.worker``)
reads the source of these functions with :mod:`inspect` and executes it inside the kernel in a
private namespace, next to the source of :mod:`cslib.checks.probe`. So a notebook that
monkeypatches ``cslib`` changes nothing here. The rules for that to work:

- every function imports what it needs inside its body (no module globals), and
- functions call each other only by the names they have in this file (they share the private
  namespace they are executed in).

``install_guard`` runs once per kernel, before any student cell: it caps the output of each
cell, keeps IPython's ``exit()`` from ending the kernel (it raises ``SystemExit`` in the cell
instead), and installs an audit hook that refuses, and writes down for the instructor's notes,
file writes outside the scratch copy, reads of the grader's private folders, programs and
signals to other processes. ``run_question`` runs one question's cases on the student's answer
and prints a single JSON payload framed by a nonce the grader drew after the student's cells had
run; it also says whether the answer called one of the question's rejected reference functions
(directly, or through a wrapper function, a lambda or ``functools.partial``).

The audit hook is a note-taker, **not the boundary**: ctypes, native code or a startup file get
around it. What keeps a kernel away from the grader's files is the OS sandbox it runs in
(``cslib.grade.sandbox``); see README, "Isolation".
"""


def install_guard(config):
    """Install the audit hook and the output cap. ``config``: scratch, writable, deny, log, output_limit, tag.

    - ``scratch``: the only directory (with /dev/shm and ``writable``) where files may be written or removed;
    - ``writable``: the folders of this kernel start (IPython, Jupyter and matplotlib settings);
    - ``deny``: paths (directories or files) that may not even be read or listed, except inside ``scratch``;
    - ``log``: a file to which every blocked action is appended (opened before the hook exists);
    - ``output_limit``: characters of output (stdout, stderr, display data) kept per cell;
    - ``tag``: the text that starts every message of the guard.
    """
    import posix
    import sys
    from _thread import get_ident

    # Bind everything the hook uses now, before any student code can replace it.
    lstat, readlink, getcwd, getpid = posix.lstat, posix.readlink, posix.getcwd, posix.getpid
    _str, _bytes, _int, _isinstance, _tuple, _type = str, bytes, int, isinstance, tuple, type
    _PermissionError, _OSError = PermissionError, OSError
    scratch = config["scratch"].rstrip("/")
    deny = _tuple(p.rstrip("/") for p in config["deny"])
    tag = config["tag"]
    max_logged = 200
    logged = [0]
    log = open(config["log"], "a", buffering=1, encoding="utf-8", errors="replace")
    write_log = log.write
    write_ok_exact = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero",
                                "/dev/full", "/dev/random", "/dev/urandom"})
    kernel_dirs = _tuple(p.rstrip("/") for p in config.get("writable", ()))  # this kernel's settings and sockets
    write_ok_under = (scratch, "/dev/shm", *kernel_dirs)
    O_WRITE = posix.O_WRONLY | posix.O_RDWR | posix.O_CREAT | posix.O_TRUNC | posix.O_APPEND

    def resolve(path, base=None, depth=0):
        """The real absolute path (symlinks resolved) using only functions bound above."""
        if not path.startswith("/"):
            path = (base if base is not None else getcwd()) + "/" + path
        parts = [p for p in path.split("/") if p and p != "."]
        out = ""
        for i, part in enumerate(parts):
            if part == "..":
                out = out.rsplit("/", 1)[0]
                continue
            candidate = out + "/" + part
            try:
                st = lstat(candidate)
            except _OSError:
                out = candidate
                continue
            if (st.st_mode & 0o170000) == 0o120000 and depth < 40:
                try:
                    target = readlink(candidate)
                except _OSError:
                    out = candidate
                    continue
                rest = "/".join(parts[i + 1:])
                joined = target + ("/" + rest if rest else "")
                return resolve(joined, out or "/", depth + 1)
            out = candidate
        return out or "/"

    # A str or bytes subclass could lie in startswith() or split(): check a plain copy. (Python hands
    # path objects to the low-level events already converted, once, so they cannot change their mind.)
    str_copy = _str.__str__
    bytes_copy = b"".join
    fspath = posix.fspath

    def plain(value):
        if _isinstance(value, _str):
            return str_copy(value)
        if _isinstance(value, _bytes):
            return bytes_copy((value,)).decode("utf-8", "surrogateescape")
        return None

    def to_path(value, dir_fd=None):
        """The real absolute path an audit argument names, or None for file descriptors."""
        if value is None or _isinstance(value, _int):
            return None
        text = plain(value)
        if text is None:
            try:
                text = plain(fspath(value))
            except Exception:
                text = None
            if text is None:
                block("read", f"<a path given as a {_type(value).__name__} object>")
        base = None
        if _isinstance(dir_fd, _int) and dir_fd >= 0 and not text.startswith("/"):
            try:
                base = readlink("/proc/self/fd/%d" % dir_fd)
            except _OSError:
                base = None
        return resolve(text, base)

    def is_dir(path):
        try:
            return (lstat(path).st_mode & 0o170000) == 0o040000
        except _OSError:
            return False

    def under(path, roots):
        for root in roots:
            if path == root or path.startswith(root + "/"):
                return True
        return False

    def other_process(path):
        if not path.startswith("/proc/"):
            return False
        first = path[6:].split("/", 1)[0]
        return first.isdigit() and _int(first) != getpid()

    reasons = {
        "read": "this path is private to the grader",
        "write": "while grading, files may be written only inside the notebook's own folder",
        "run": "while grading, other programs may not be started",
        "signal": "while grading, other processes may not be signalled",
    }

    def block(action, what):
        if logged[0] < max_logged:
            logged[0] += 1
            try:
                write_log(action + "\t" + what.replace("\n", " ")[:300] + "\n")
            except Exception:
                pass
        raise _PermissionError(f"{tag} blocked: {action} {what} ({reasons[action]})")

    own = (scratch, *kernel_dirs)

    def check_read(path):
        if path is None or under(path, own):  # the scratch folder sits inside the grader's (denied) work folder
            return
        if under(path, deny) or other_process(path):
            block("read", path)

    def check_write(path):
        if path is None or path in write_ok_exact:
            return
        if not under(path, write_ok_under):
            block("write", path)
        check_read(path)

    def hook(event, args):
        if event == "open":
            path = to_path(args[0])
            if path is None or path in write_ok_exact:
                return
            mode, flags = args[1], args[2]
            writing = (_isinstance(flags, _int) and flags & O_WRITE) or (
                _isinstance(mode, _str) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode))
            if writing:
                check_write(path)
            else:
                check_read(path)
                # os.open(folder) gives a descriptor that later opens (dir_fd=...) are relative to, which the
                # "open" event does not show: no such descriptors for folders outside the scratch folder
                if mode is None and not under(path, write_ok_under) and is_dir(path):
                    block("read", path + " (a folder descriptor outside the scratch folder)")
        elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.utime", "os.chflags",
                       "os.lchflags", "os.truncate", "os.setxattr", "os.removexattr", "shutil.chown",
                       "shutil.rmtree"):
            dir_fd = args[-1] if event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                                           "os.utime", "shutil.rmtree") else None
            check_write(to_path(args[0], dir_fd))
        elif event in ("os.rename", "os.link"):
            check_write(to_path(args[0], args[2]))
            check_write(to_path(args[1], args[3]))
        elif event == "os.symlink":
            check_write(to_path(args[1], args[2]))
        elif event in ("shutil.copyfile", "shutil.copytree", "shutil.copymode", "shutil.copystat"):
            check_read(to_path(args[0]))
            check_write(to_path(args[1]))
        elif event == "shutil.move":
            check_write(to_path(args[0]))
            check_write(to_path(args[1]))
        elif event == "shutil.make_archive":
            check_write(to_path(args[0]))
        elif event == "shutil.unpack_archive":
            check_read(to_path(args[0]))
            check_write(to_path(args[1]))
        elif event in ("os.listdir", "os.scandir", "os.listxattr", "os.getxattr", "glob.glob", "glob.glob/2"):
            check_read(to_path(args[0] if args and args[0] is not None else "."))
        elif event == "sqlite3.connect":
            database = args[0]
            if _isinstance(database, (_str, _bytes)) and database not in (":memory:", "", b":memory:", b""):
                check_write(to_path(database))
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile",
                       "pty.spawn"):
            what = args[1] if event == "subprocess.Popen" else args[0]
            if not _isinstance(what, (list, _tuple)):
                what = [what]
            block("run", " ".join(a.decode("utf-8", "replace") if _isinstance(a, _bytes) else _str(a)
                                  for a in what[:4])[:200])
        elif event in ("os.kill", "os.killpg"):
            target = args[0]
            if _isinstance(target, _int) and target not in (0, getpid()) and not (event == "os.killpg" and target == getpid()):
                try:
                    with_parent = open_stat(target)
                except Exception:
                    with_parent = None
                if with_parent != getpid():
                    block("signal", "process %s" % target)

    def open_stat(pid):
        """The parent pid of ``pid`` (children, e.g. DataLoader workers, may be signalled)."""
        fd = posix.open("/proc/%d/stat" % pid, posix.O_RDONLY)  # raises the audit event; /proc/<pid> of a
        try:                                                  # child is fine only because we are the caller
            data = posix.read(fd, 1024)
        finally:
            posix.close(fd)
        return _int(data.rsplit(b")", 1)[1].split()[1])

    # torch.save writes its zip file from C++, where no audit event is raised: check the path it is
    # given, as soon as torch.serialization has been imported.
    modules = sys.modules
    torch_patched = [False]

    def patch_torch_save(serialization):
        writer = getattr(serialization, "_open_zipfile_writer_file", None)
        if writer is None:  # torch.serialization is still being imported: try again at the next event
            return
        torch_patched[0] = True
        original_init = writer.__init__

        def __init__(self, name, *args, **kwargs):
            check_write(to_path(name))
            original_init(self, name, *args, **kwargs)

        writer.__init__ = __init__

    # Reading /proc/<child>/stat from inside the hook would trigger the hook again and be blocked as
    # "another process": let the nested call through, in this thread only.
    inside = set()

    def guarded_hook(event, args):
        thread = get_ident()
        if thread in inside:
            return
        inside.add(thread)
        try:
            if not torch_patched[0] and "torch.serialization" in modules:
                patch_torch_save(modules["torch.serialization"])
            hook(event, args)
        finally:
            inside.discard(thread)

    sys.addaudithook(guarded_hook)
    _cap_output(config["output_limit"], tag)
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
    """Rebuild a case argument from the grader's tagged plain-data encoding (see grade.encode_value)."""
    import base64

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
        import numpy as np

        raw = np.frombuffer(base64.b64decode(value["data"]), dtype=np.dtype(value["dtype"])).copy()
        if tag == "$npscalar":
            return raw[0]
        array = raw.reshape(value["shape"])
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
    type(out).write(out, frame)  # the class's write: past the output cap of install_guard
    type(out).flush(out)
