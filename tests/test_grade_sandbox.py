"""The OS sandbox holds against a hostile class: real notebooks, graded by the real grader, each trying to escape.

One grading run (the command line, in a subprocess, ``-j 2``) grades a class whose notebooks try
to write outside their scratch folder, read ``solutions/``, a secret file and another student's
notebook, leave a process running after grading, reach the network, signal other processes (the
grader, its workers, this test, a bystander), plant startup files for the next kernel, and put
pipes and links where the grader writes its outputs. Nothing in the kernel stands in their way
(plain Python reaches the operating system), and some also go through ``ctypes``. Every test checks the effect did not happen: the
files outside are unchanged, the secrets earned no points, no process survived, nothing connected,
nobody was signalled.

These tests need bubblewrap: in CI they fail without it, elsewhere they are skipped (see
``tests/sandboxing.py``). They never run without the sandbox: some of these notebooks would do
real damage there.
"""
from __future__ import annotations

import csv
import json
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cslib.grade import sandbox as grade_sandbox
from grading_lab import BLANK, SOLUTION

import sandboxing

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = str(ROOT / "tests" / "grading_lab.py")
SOLUTION_FILE = sorted((ROOT / "solutions").glob("lab*.ipynb"))[0]
MARK = "3141592"  # in the command line of the processes the survivor starts

LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def notebook(*cells: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["cslib"] = {"lab": "lab99"}
    nb.cells = [new_code_cell(c) for c in cells]
    return nb


def attempts(*lines: str) -> str:
    """Code that tries each line and ignores what fails."""
    return "\n".join(f"try:\n    {line}\nexcept BaseException:\n    pass" for line in lines)


def write_targets(base: Path) -> list[str]:
    """Files a notebook must not create or change."""
    return [str(base / "outside" / "keep.txt"), str(base / "outside" / "new.txt"), str(base / "submissions" / "good.ipynb"),
            str(base / "submissions" / "new.ipynb"), str(base / "out" / "new.txt"),
            str(ROOT / "cslib" / f"_escaped_{base.name}.py"), str(Path(sys.prefix) / f"escaped_{base.name}")]


def writer(base: Path) -> str:
    targets = write_targets(base)
    lines = []
    for t in targets:
        lines += [f"open({t!r}, 'w').write('pwned')",
                  f"fd = os.open({t!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC); os.write(fd, b'pwned'); os.close(fd)",
                  f"pathlib.Path({t!r}).write_text('pwned')",
                  f"open('mine.txt', 'w').write('pwned'); shutil.copy('mine.txt', {t!r})",
                  f"open('mine2.txt', 'w').write('pwned'); os.replace('mine2.txt', {t!r})",
                  f"fd = libc.open({t.encode()!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); libc.write(fd, b'pwned', 5); libc.close(fd)",
                  f"f = libc.fopen({t.encode()!r}, b'w'); libc.fputs(b'pwned', f); libc.fclose(f)",
                  f"libc.system(b'echo pwned > {t}')"]
    keep = str(base / "outside" / "keep.txt")
    lines += [f"os.remove({keep!r})", f"libc.unlink({keep.encode()!r})", f"libc.rename({keep.encode()!r}, b'stolen.txt')",
              f"libc.chmod({keep.encode()!r}, 0o777)", f"libc.truncate({keep.encode()!r}, 0)"]
    return LIBC + "import pathlib, shutil\n" + attempts(*lines)


def reader(base: Path) -> str:
    """Reads a secret, solutions/ and another student's notebook every way it can; what it reads becomes answers."""
    paths = {"secret": str(base / "secret" / "answer.txt"), "solutions": str(SOLUTION_FILE),
             "good": str(base / "submissions" / "good.ipynb")}
    code = [LIBC, "import glob, mmap, pathlib, shutil\nfound = {}"]
    for key, p in paths.items():
        code.append(attempts(
            f"found.setdefault({key!r}, open({p!r}).read())",
            f"fd = os.open({p!r}, os.O_RDONLY); found.setdefault({key!r}, os.read(fd, 10**7).decode()); os.close(fd)",
            f"found.setdefault({key!r}, pathlib.Path({p!r}).read_text())",
            f"f = open({p!r}, 'rb'); found.setdefault({key!r}, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)[:].decode())",
            f"shutil.copy({p!r}, 'copy-{key}'); found.setdefault({key!r}, open('copy-{key}').read())",
            f"libc.system(b'cat {p} > cat-{key}'); found.setdefault({key!r}, open('cat-{key}').read() or None) or found.pop({key!r})",
            f"buf = ctypes.create_string_buffer(10**7); fd = libc.open({p.encode()!r}, 0); n = libc.read(fd, buf, 10**7); "
            f"libc.close(fd); assert n > 0; found.setdefault({key!r}, buf.raw[:n].decode())",
            f"buf = ctypes.create_string_buffer(10**7); f = libc.fopen({p.encode()!r}, b'r'); n = libc.fread(buf, 1, 10**7, f); "
            f"assert n > 0; found.setdefault({key!r}, buf.raw[:n].decode())",
            f"found.setdefault({key!r}, open('/proc/1/root' + {p!r}).read())",
            f"found.setdefault({key!r}, open('/proc/{os.getpid()}/root' + {p!r}).read())"))
    code.append(attempts(f"found.setdefault('listing', os.listdir({str(base / 'submissions')!r}))",
                         f"found.setdefault('listing', glob.glob({str(ROOT / 'solutions' / '*')!r}) or None) or found.pop('listing')",
                         "found.setdefault('job', open('../job.json').read())"))
    code.append("""
if "secret" in found:
    answer = int(found["secret"])
if "solutions" in found or "listing" in found or "job" in found:
    def shout(word):
        return word.upper() + "!"
if "good" in found:
    import json as _json
    for _cell in _json.loads(found["good"])["cells"]:
        if "def add" in "".join(_cell["source"]):
            exec("".join(_cell["source"]))
""")
    return "\n".join(code)


def survivor(base: Path) -> str:
    """A daemon (double fork, new session, deaf to SIGTERM and SIGHUP) that keeps writing, and a program in the background."""
    late = [str(base / "out" / "grades.csv"), str(base / "outside" / "late.txt")]
    return LIBC + f"""
import signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        end = time.time() + 300
        while time.time() < end:
            for path in {late!r}:
                try:
                    open(path, "w").write("rewritten after grading")
                except OSError:
                    pass
            time.sleep(0.5)
    os._exit(0)
libc.system(b"(setsid nohup sleep {MARK} >/dev/null 2>&1 &)")
libc.system(b"(trap '' TERM HUP; exec sleep {MARK}1) >/dev/null 2>&1 &")
"""


def network(port: int, udp_port: int, host_ip: str | None, abstract: str, unix_path: str) -> str:
    targets = [("127.0.0.1", port)] + ([(host_ip, port)] if host_ip else [])
    lines = [f"socket.create_connection({t!r}, timeout=3); connected.append({t!r})" for t in targets]
    lines += [f"s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect({name!r}); connected.append({name!r})"
              for name in ("\0" + abstract, unix_path)]
    lines += [f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('127.0.0.1', {udp_port}))"]
    lines += [f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ({host_ip!r}, {udp_port}))"] if host_ip else []
    lines += ["socket.getaddrinfo('pypi.org', 443); connected.append('dns')"]
    return "import socket\nconnected = []\n" + attempts(*lines) + "\nif connected:\n    answer = 42\n"


def signaller(base: Path, bystander: int) -> str:
    """Signals a bystander, this test's process and the grader and workers it finds in /proc."""
    return LIBC + f"""
import signal
victims = [{bystander}]
for pid in os.listdir("/proc"):
    try:
        cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        continue
    if {str(base).encode()!r} in cmdline and (b"worker.py" in cmdline or b"cslib.grade" in cmdline):
        victims.append(int(pid))
for pid in victims:
    for kill in (lambda p: os.kill(p, signal.SIGKILL), lambda p: libc.kill(p, signal.SIGKILL),
                 lambda p: os.killpg(p, signal.SIGKILL)):
        try:
            kill(pid)
        except OSError:
            pass
for kill in (lambda: os.kill({os.getpid()}, signal.SIGUSR1), lambda: libc.kill({os.getpid()}, signal.SIGUSR1)):
    try:
        kill()
    except OSError:
        pass
"""


def planter() -> str:
    """Startup code for the next kernel in every place a Python or IPython start might read, then a crash."""
    return """
import os, sys, textwrap
here = os.getcwd()
def plant(path, route):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(f'''
            open({os.path.join(here, "ran-" + route)!r}, "w").write("ran")
            def add(a, b):
                return a + b
            '''))
version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
plant(os.path.join(here, ".ipython/profile_default/startup/00-escape.py"), "home-ipython-startup")
plant(os.path.join(os.environ["IPYTHONDIR"], "profile_default/startup/00-escape.py"), "ipythondir-startup")
plant(os.path.join(os.environ["IPYTHONDIR"], "profile_default/ipython_kernel_config.py"), "ipython-config")
plant(os.path.join(os.environ["JUPYTER_CONFIG_DIR"], "ipython_kernel_config.py"), "jupyter-config")
plant(os.path.join(here, ".jupyter/ipython_kernel_config.py"), "home-jupyter-config")
plant(os.path.join(here, "ipykernel_launcher.py"), "launcher")
plant(os.path.join(here, "sitecustomize.py"), "sitecustomize")
plant(os.path.join(here, "usercustomize.py"), "usercustomize")
plant(os.path.join(here, ".local/lib", version, "site-packages/escape_startup.py"), "user-site")
with open(os.path.join(here, ".local/lib", version, "site-packages/escape.pth"), "w") as f:
    f.write("import escape_startup\\n")
with open(os.path.join(here, "control_module.py"), "w") as f:
    f.write(f"open({os.path.join(here, 'ran-control')!r}, 'w').write('ran')\\n")
"""


def fifo_maker(base: Path) -> str:
    out = base / "out"
    targets = [out / "grades.csv", out / "grades-feedback" / "fifo_maker.md", out / "gradescope" / "fifo_maker" / "results.json"]
    lines = []
    for t in targets:
        lines += [f"os.makedirs({str(t.parent)!r}, exist_ok=True)", f"os.mkfifo({str(t)!r})",
                  f"libc.mkfifo({str(t).encode()!r}, 0o666)", f"os.symlink('/etc/passwd', {str(t)!r} + '.tmp')"]
    return LIBC + attempts(*lines)


def host_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the processes whose command line or environment contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline or text.encode() in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def wait_until(condition, limit: float = 90.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture(scope="module")
def escape(tmp_path_factory):
    sandboxing.require()
    base = tmp_path_factory.mktemp("escape")
    for name in ("submissions", "outside", "out", "secret", "work"):
        (base / name).mkdir()
    (base / "outside" / "keep.txt").write_text("keep")
    (base / "secret" / "answer.txt").write_text("42")
    # what an attacker may have placed where the grader writes: a link to a file to overwrite, a pipe to hang on
    (base / "out" / "grades-feedback").mkdir()
    (base / "out" / "grades-feedback" / "good.md").symlink_to(base / "outside" / "keep.txt")
    (base / "out" / "gradescope" / "good").mkdir(parents=True)
    os.mkfifo(base / "out" / "gradescope" / "good" / "results.json")
    # a bystander process, servers nobody may reach, and a handler that counts signals sent to this test
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"], start_new_session=True)
    tcp = socket.create_server(("0.0.0.0", 0))
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    udp.setblocking(False)
    abstract_name = "cslib-grade-test-" + secrets.token_hex(8)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    abstract.setblocking(False)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(base / "outside" / "sock"))
    unix.listen()
    unix.setblocking(False)
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    files = {
        "good.ipynb": notebook("import numpy as np", *SOLUTION.values()),
        "writer.ipynb": notebook("import numpy as np", *BLANK.values(), writer(base)),
        "reader.ipynb": notebook("import numpy as np", *BLANK.values(), reader(base)),
        "survivor.ipynb": notebook("import numpy as np", *BLANK.values(), survivor(base)),
        "network.ipynb": notebook("import numpy as np", *BLANK.values(),
                                  network(tcp.getsockname()[1], udp.getsockname()[1], host_address(), abstract_name,
                                          str(base / "outside" / "sock"))),
        "signaller.ipynb": notebook("import numpy as np", *SOLUTION.values(), signaller(base, bystander.pid)),
        "planter.ipynb": notebook("import numpy as np", *BLANK.values(), planter(), "import os\nos._exit(1)",
                                  "import control_module"),
        "fifo_maker.ipynb": notebook("import numpy as np", *BLANK.values(), fifo_maker(base)),
        "noisy.ipynb": notebook("import numpy as np", *BLANK.values(),
                                "import os\nfor fd in (1, 2):\n    for _ in range(40):\n        os.write(fd, b'x' * 2**18)"),
    }
    for name, nb in files.items():
        nbformat.write(nb, base / "submissions" / name)
    originals = {p.name: p.read_bytes() for p in (base / "submissions").iterdir()}
    command = [sys.executable, "-m", "cslib.grade", "lab99", str(base / "submissions"), "--questions", QUESTIONS,
               "--seed", "7", "--out", str(base / "out" / "grades.csv"), "--gradescope", str(base / "out" / "gradescope"),
               "-j", "2", "--cell-timeout", "60", "--timeout", "180", "--test-timeout", "10", "--memory", "2",
               "--workdir", str(base / "work"), "--keep-scratch", "-q"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        with open(base / "out" / "grades.csv", newline="", encoding="utf-8") as f:
            rows = {row["student_id"]: row for row in csv.DictReader(f)}
        yield {"base": base, "done": done, "rows": rows, "originals": originals, "bystander": bystander,
               "received": received, "servers": {"tcp": tcp, "udp": udp, "abstract": abstract, "unix": unix}}
    finally:
        signal.signal(signal.SIGUSR1, previous)
        bystander.kill()
        for s in (tcp, udp, abstract, unix):
            s.close()
        for path in (ROOT / "cslib" / f"_escaped_{base.name}.py", Path(sys.prefix) / f"escaped_{base.name}"):
            path.unlink(missing_ok=True)  # should never exist; never leave one behind


def scratch_of(escape, name: str) -> Path:
    """The kept scratch folder of one submission (found by the notebook it holds)."""
    data = escape["originals"][name]
    for path in (escape["base"] / "work").glob("cslib-grade-*/*/scratch/submission.ipynb"):
        if path.read_bytes() == data:
            return path.parent
    raise AssertionError(f"no scratch folder for {name}")


def test_the_class_is_graded_in_the_sandbox_and_the_control_gets_full_marks(escape):
    done, rows = escape["done"], escape["rows"]
    assert "Isolation: bubblewrap" in done.stderr and "isolation: bubblewrap" in done.stdout
    assert {r["isolation"] for r in rows.values()} == {"bubblewrap"}
    assert set(rows) == {"good", "writer", "reader", "survivor", "network", "signaller", "planter", "fifo_maker", "noisy"}
    assert all(r["status"] == "ran" for r in rows.values()), {k: r["notes"] for k, r in rows.items()}
    assert rows["good"]["total"] == "5"


def test_what_a_kernel_writes_to_its_standard_streams_reaches_no_file_of_the_grader(escape):
    logs = list((escape["base"] / "work").glob("cslib-grade-*/*/worker.log"))
    assert logs and max(p.stat().st_size for p in logs) < 2**20  # the noisy notebook wrote 20 MB to fd 1 and 2
    assert "xxxx" not in escape["rows"]["noisy"]["notes"]


def test_writes_outside_the_scratch_folder_change_nothing(escape):
    base = escape["base"]
    assert escape["rows"]["writer"]["total"] == "0"
    assert (base / "outside" / "keep.txt").read_text() == "keep"
    assert stat.S_IMODE((base / "outside" / "keep.txt").stat().st_mode) != 0o777
    for target in write_targets(base):
        if Path(target).name not in ("keep.txt", "good.ipynb"):
            assert not Path(target).exists(), target
    for name, data in escape["originals"].items():  # no submission changed, none added
        assert (base / "submissions" / name).read_bytes() == data
    assert sorted(p.name for p in (base / "submissions").iterdir()) == sorted(escape["originals"])
    assert sorted(p.name for p in (base / "outside").iterdir()) == ["keep.txt", "sock"]
    assert sorted(p.name for p in (base / "out").iterdir()) == sorted(["gradescope", "grades-feedback", "grades.csv",
                                                                       "grades-progress.jsonl"])  # kept: outputs failed
    # inside its own folder the notebook could write (the attempts there did run)
    assert (scratch_of(escape, "writer.ipynb") / "mine.txt").read_text() == "pwned"


def test_secrets_solutions_and_other_submissions_cannot_be_read(escape):
    row = escape["rows"]["reader"]  # reading the secret would define `answer`, solutions/ `shout`, good.ipynb `add`
    assert (row["add"], row["shout"], row["answer"], row["total"]) == ("0", "0", "0", "0"), row["notes"]
    scratch = scratch_of(escape, "reader.ipynb")
    assert not list(scratch.glob("copy-*")) and all(p.read_text() == "" for p in scratch.glob("cat-*"))


def test_no_process_outlives_grading(escape):
    assert escape["rows"]["survivor"]["status"] == "ran"
    base = str(escape["base"])
    assert wait_until(lambda: not processes_mentioning(base) and not processes_mentioning(MARK)), \
        processes_mentioning(base) + processes_mentioning(MARK)
    assert not (escape["base"] / "outside" / "late.txt").exists()
    with open(escape["base"] / "out" / "grades.csv", encoding="utf-8") as f:
        assert f.read().startswith("student_id,")


def test_no_network(escape):
    assert escape["rows"]["network"]["answer"] == "0"  # a connection would have defined `answer`
    servers = escape["servers"]
    for name in ("tcp", "abstract", "unix"):
        with pytest.raises(BlockingIOError):
            servers[name].accept()
    with pytest.raises(BlockingIOError):
        servers["udp"].recvfrom(100)


def test_signals_reach_no_process_outside(escape):
    assert escape["bystander"].poll() is None  # still running: SIGKILL never reached it
    assert escape["received"] == []  # this test's process got no SIGUSR1
    row = escape["rows"]["signaller"]  # its own worker and the grader were not killed: it was graded
    assert row["status"] == "ran" and row["total"] == "5" and escape["done"].returncode == 1


def test_startup_files_in_the_scratch_folder_never_run(escape):
    row = escape["rows"]["planter"]
    assert "killed the kernel (exit code 1); a new kernel re-ran the cells before it" in row["notes"]
    assert row["add"] == "0"  # every planted file would define `add`
    scratch = scratch_of(escape, "planter.ipynb")
    assert (scratch / "ran-control").exists()  # importing a module of the scratch folder in a cell works...
    assert sorted(p.name for p in scratch.glob("ran-*")) == ["ran-control"]  # ...nothing ran on its own


def test_pipes_and_links_at_output_paths_are_errors_not_hangs(escape):
    base, done = escape["base"], escape["done"]
    # placed before grading: the link and the pipe stay as they were, the error names them, the rest is written
    assert (base / "out" / "grades-feedback" / "good.md").is_symlink()
    assert (base / "outside" / "keep.txt").read_text() == "keep"
    assert stat.S_ISFIFO((base / "out" / "gradescope" / "good" / "results.json").lstat().st_mode)
    assert done.returncode == 1 and "Could not write 2 outputs" in done.stdout
    assert f"cannot write {base / 'out' / 'grades-feedback' / 'good.md'}: it is a symbolic link" in done.stderr
    assert "it is a named pipe (FIFO)" in done.stderr
    # planted by a notebook: nothing got there (the output folder is not in the sandbox)
    for path in (base / "out" / "grades.csv", base / "out" / "grades-feedback" / "fifo_maker.md",
                 base / "out" / "gradescope" / "fifo_maker" / "results.json"):
        assert stat.S_ISREG(path.lstat().st_mode), path
    assert json.loads((base / "out" / "gradescope" / "writer" / "results.json").read_text())["extra_data"]["isolation"] \
        == "bubblewrap"
    assert not list((base / "out").rglob("*.tmp"))


INSIDE = r"""
import json, os, socket
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
import ctypes
nested = ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0  # CLONE_NEWUSER: a new user namespace
print(json.dumps({
    "capabilities": [status[k].strip() for k in ("CapPrm", "CapEff", "CapBnd")], "nested_userns": nested,
    "environ": dict(os.environ), "hostname": socket.gethostname(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "home": sorted(os.listdir(os.environ["REAL_HOME"])) if os.path.isdir(os.environ["REAL_HOME"]) else [],
    "exists": {p: os.path.exists(p) for p in ("/etc/shadow", os.environ["SOLUTIONS"], os.environ["REPO_README"],
                                             os.environ["VENV"], "/etc/ld.so.cache", "/etc/passwd", "/run", "/var", "/home")},
    "writable": {p: can_write(p) for p in ("/cslib-probe", "/etc/cslib-probe", "/usr/cslib-probe", os.environ["VENV"] + "/cslib-probe",
                                           os.environ["SCRATCH"] + "/cslib-probe", "/tmp/cslib-probe", "/dev/shm/cslib-probe")},
}))
"""


def test_inside_the_sandbox(tmp_path, monkeypatch):
    """What a kernel's process sees inside: the claims of docs/grading.md's Isolation section."""
    sandboxing.require()
    monkeypatch.setenv("GITHUB_TOKEN", "secret")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    found = grade_sandbox.find([ROOT / "solutions", tmp_path], {"PATH": os.environ["PATH"]})
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "SOLUTIONS": str(ROOT / "solutions"),
           "REPO_README": str(ROOT / "README.md"), "VENV": sys.prefix, "SCRATCH": str(scratch), "REAL_HOME": str(Path.home())}
    command = grade_sandbox.wrap(found.to_json(), [sys.executable, "-c", INSIDE], [str(scratch)], env, str(scratch))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["capabilities"] == ["0000000000000000"] * 3 and seen["nested_userns"] is False
    # only what the grader gave it (Python adds LC_CTYPE when the locale is C); no GITHUB_TOKEN
    assert {k: v for k, v in seen["environ"].items() if k not in ("PWD", "LC_CTYPE")} == env
    assert seen["hostname"] == "grading" and max(seen["pids"]) < 10  # its own PID namespace
    home = Path.home().resolve()  # of the home folder only what Python needs (e.g. a pyenv Python) is there
    assert seen["home"] == sorted({Path(p).relative_to(home).parts[0] for p in found.read_only if Path(p).is_relative_to(home)})
    assert seen["exists"] == {"/etc/shadow": False, str(ROOT / "solutions"): False, str(ROOT / "README.md"): False, sys.prefix: True,
                              "/etc/ld.so.cache": True, "/etc/passwd": True, "/run": False, "/var": False, "/home": False}
    # an unusual name: a real /tmp/x (say, a clone of this repository there) is mounted read-only and is no test
    assert seen["writable"] == {"/cslib-probe": False, "/etc/cslib-probe": False, "/usr/cslib-probe": False,
                                sys.prefix + "/cslib-probe": False, str(scratch / "cslib-probe"): True,
                                "/tmp/cslib-probe": True, "/dev/shm/cslib-probe": True}
    assert not (Path(sys.prefix) / "cslib-probe").exists() and (scratch / "cslib-probe").exists()


def cpu_controller() -> bool:
    """Whether this system's cgroups have the cpu controller (v2: listed at the root; v1: its hierarchy)."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    return "cpu" in v2.read_text().split() if v2.exists() else Path("/sys/fs/cgroup/cpu/cgroup.procs").exists()


HOGS = {  # each takes something the whole machine shares; none may cost the honest student a point
    "memory": "import mmap\nm = mmap.mmap(-1, 3 * 2**30, flags=mmap.MAP_SHARED)\nfor i in range(0, 3 * 2**30, 2**20):\n    m[i:i + 2**20] = b'x' * 2**20",
    "shm": "with open('/dev/shm/fill', 'wb') as f:\n    for _ in range(3 * 1024):\n        f.write(b'x' * 2**20)",
    "disk": "import os\nfor i in range(4 * 1024):\n    with open(f'fill-{i}', 'wb') as f:\n        f.write(b'x' * 2**20)",
    "settings": ("import os\nfor i in range(4 * 1024):  # the kernel's start folder, which holds its settings and sockets\n"
                 "    with open(os.path.join(os.environ['IPYTHONDIR'], '..', f'fill-{i}'), 'wb') as f:\n"
                 "        f.write(b'x' * 2**20)"),
    "tasks": ("import os, time\nn = 0\ntry:\n    for _ in range(2000):\n        if os.fork() == 0:\n            os.setsid()\n"
              "            t = time.time() + 60\n            while time.time() < t:\n                pass\n            os._exit(0)\n"
              "        n += 1\nexcept OSError:\n    pass\nraise RuntimeError(f'forked {n} busy processes')"),
}


def test_a_submission_that_takes_memory_disk_tasks_or_cpu_costs_no_one_else_a_point(tmp_path):
    """Each kernel runs in a cgroup (memory with shared memory and in-memory files, tasks, an equal CPU share) with
    an in-memory scratch folder of fixed size: the hogs stop at their own limits, the honest student keeps full
    marks, nothing reaches the disk, and no process is left."""
    sandboxing.require()
    (tmp_path / "submissions").mkdir()
    nbformat.write(notebook("import numpy as np", *SOLUTION.values()), tmp_path / "submissions" / "good.ipynb")
    for name, code in HOGS.items():
        nbformat.write(notebook("import numpy as np", *BLANK.values(), code), tmp_path / "submissions" / f"{name}.ipynb")
    command = [sys.executable, "-m", "cslib.grade", "lab99", str(tmp_path / "submissions"), "--questions", QUESTIONS,
               "--seed", "7", "--out", str(tmp_path / "grades.csv"), "-j", "3", "--timeout", "240", "--cell-timeout", "60",
               "--memory", "1", "--tasks", "64", "--scratch", "0.25", "-q", "--workdir", str(tmp_path / "work")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    free_before = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert "Limits: each kernel in a cgroup of its own: memory 1 GiB" in done.stderr, done.stderr[-2000:]
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert rows["good"]["total"] == "5", (rows["good"], done.stderr[-2000:])
    assert set(rows) == {"good", *HOGS} and all(r["status"] == "ran" for r in rows.values()), rows
    notes = {name: row["notes"] for name, row in rows.items()}
    assert "killed: it used more than its memory limit (1 GiB" in notes["memory"], notes  # shared memory is counted
    assert "more than its memory limit" in notes["shm"] or "No space left on device" in notes["shm"], notes
    assert "OSError: [Errno 28] No space left on device" in notes["disk"], notes  # the in-memory scratch is full
    assert "OSError: [Errno 28] No space left on device" in notes["settings"], notes  # the start folder is full
    assert "its scratch folder in memory, 0.25 GiB; its start folder (settings, sockets) in memory, 64 MiB" in done.stderr, \
        done.stderr[-2000:]
    if cpu_controller():  # each kernel gets one share of the CPU, however many processes it starts
        assert "tasks, an equal share of the CPU" in done.stderr, done.stderr[-2000:]
    forked = int(re.search(r"RuntimeError: forked (\d+) busy processes", notes["tasks"]).group(1))
    assert forked < 64, notes["tasks"]
    free_after = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert free_before - free_after < 2**28, "a kernel wrote to the disk"  # the disk hog tried 4 GiB
    assert wait_until(lambda: not processes_mentioning(str(tmp_path))), processes_mentioning(str(tmp_path))
