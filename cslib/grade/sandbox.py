"""The OS sandbox each submission's kernel runs in: bubblewrap (``bwrap``) on Linux.

The grader computes one :class:`Sandbox` per run (what to mount, read-only) and the worker wraps
each kernel's command line in it (:func:`wrap`). Inside, a kernel sees:

- read-only: the system (``/usr`` and its ``/bin``, ``/lib`` links, a few files of ``/etc``), Python
  and its packages, cslib's package folder (not the repository: no ``solutions/``), the data and
  model-weight folders, and any ``--allow-read`` path;
- read-write: the submission's scratch folder (its working directory and ``HOME``: in memory, of a fixed
  size, with read-only copies of the submission) and the folder of this kernel start (its sockets and
  settings, fresh at every start);
- its own ``/proc``, a minimal ``/dev`` and an empty ``/tmp`` and ``/dev/shm`` (1 GiB each, in memory);
- nothing else: the other submissions, the grader's outputs and work folders, ``solutions/`` and your
  home folder are not mounted at all.

It has no network (a network namespace with only its own loopback), its own PID namespace (it sees
and can signal only its own processes, and all of them are killed when the kernel ends), no
capabilities, no new user namespaces, and it dies with the worker that started it. The kernel talks
to the worker through Unix sockets in the folder of its start (Jupyter's ``ipc`` transport).
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BUBBLEWRAP = "bubblewrap"
NONE = "none"
TMPFS_BYTES = 2**30  # size of the kernel's /tmp and /dev/shm
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)"
# files of /etc a kernel may need (libraries, time zone, user names, fonts); not shadow, ssh, sudoers...
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone", "passwd", "group",
       "nsswitch.conf", "fonts", "mime.types", "os-release", "debian_version", "hosts", "host.conf")


class SandboxError(RuntimeError):
    """No sandbox can be used (the message says why and what to do)."""


@dataclass
class Sandbox:
    """How kernels are isolated in one grading run: ``kind`` is "bubblewrap" or "none"."""

    kind: str
    bwrap: str = ""
    read_only: list[str] = field(default_factory=list)  # host folders and files mounted read-only, same path
    devices: list[str] = field(default_factory=list)  # device files passed in (--gpu)
    skipped: list[str] = field(default_factory=list)  # paths not mounted because they hold private files
    cgroups: str = ""  # set by the grader: '' when each kernel also gets a cgroup with limits, else why not
    cpu_share: bool = False  # set by the grader: whether those cgroups also give each kernel an equal CPU share
    start_on_disk: str = ""  # set by the grader: '' when each kernel's start folder is in memory, else why not

    def to_json(self) -> dict:
        return {"kind": self.kind, "bwrap": self.bwrap, "read_only": self.read_only, "devices": self.devices}


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_only_paths(private: list[Path], extra: list[Path] = ()) -> tuple[list[str], list[str]]:
    """(folders and files a kernel needs, read-only; those left out because they overlap ``private``).

    ``private``: what a kernel may never see (the work folder, submissions, outputs, solutions/, --deny
    paths). A needed path that is, holds or lies inside one of them is not mounted; neither is the
    home folder as a whole or ``/`` (Python inside a home folder is mounted, the home folder is not).
    """
    import cslib

    candidates: list[Path] = [Path("/usr")]
    candidates += [Path("/etc") / name for name in ETC]
    candidates += [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)]
    candidates += [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
    candidates += [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if os.path.isabs(p)]
    candidates.append(Path(cslib.__file__).resolve().parent)  # the package only: the repository holds solutions/
    candidates += list(extra)
    private = [p.resolve() for p in private]
    whole = [Path.home().resolve(), Path("/")]
    keep: list[Path] = []
    skipped: list[str] = []
    for candidate in candidates:
        if not candidate.exists():
            continue
        path = candidate.resolve()
        if any(_under(path, p) or _under(p, path) for p in private) or any(_under(w, path) for w in whole):
            skipped.append(str(path))
            continue
        keep.append(path)
    keep = sorted(set(keep), key=lambda p: (len(p.parts), str(p)))
    outer = [p for p in keep if not any(q != p and _under(p, q) for q in keep)]
    return [str(p) for p in outer], sorted(set(skipped))


def gpu_devices() -> list[str]:
    """The NVIDIA device files of this machine (for --gpu)."""
    found = [p for p in Path("/dev").glob("nvidia*") if not p.is_dir()] + list(Path("/dev").glob("nvidia-caps/*"))
    return sorted(str(p) for p in found)


def wrap(sandbox: dict, command: list[str], writable: list[str], env: dict[str, str], cwd: str,
         scratch_bytes: int | None = None) -> list[str]:
    """``command`` run inside the sandbox described by ``sandbox`` (:meth:`Sandbox.to_json`).

    ``writable``: folders mounted read-write at the same path; ``env``: the whole environment inside. With
    ``scratch_bytes``, the first of them (the scratch folder) is instead an in-memory folder of that size at
    the same path, holding read-only copies of its files and its empty sub-folders: what the kernel writes
    there cannot fill the disk, is charged to its memory limit, and is gone when it ends.
    """
    if sandbox["kind"] == NONE:
        return list(command)
    args = [sandbox["bwrap"], "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--hostname", "grading", "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / link
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp", "--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm"]
    for device in sandbox.get("devices", []):
        args += ["--dev-bind-try", device, device]
    if sandbox.get("devices"):
        args += ["--ro-bind-try", "/sys", "/sys"]
    for path in sandbox["read_only"]:
        args += ["--ro-bind-try", path, path]
    for number, path in enumerate(writable):
        if number == 0 and scratch_bytes:
            args += ["--size", str(scratch_bytes), "--tmpfs", path]
            for folder, dirs, files in os.walk(path):
                args += [arg for d in sorted(dirs) for arg in ("--dir", os.path.join(folder, d))]
                args += [arg for f in sorted(files) for arg in ("--ro-bind", os.path.join(folder, f), os.path.join(folder, f))]
        else:
            args += ["--bind", path, path]
    args += ["--remount-ro", "/", "--chdir", cwd, "--", *command]
    return args


def kernel_launcher() -> str:
    """ipykernel's launcher script, by absolute path (``-m ipykernel_launcher`` would look in the cwd first)."""
    import importlib.util

    spec = importlib.util.find_spec("ipykernel_launcher")
    if spec is None or not spec.origin:
        raise SandboxError("ipykernel is not installed (pip install ipykernel)")
    return str(Path(spec.origin).resolve())


def probe(sandbox: Sandbox, env: dict[str, str]) -> str:
    """'' if a kernel's Python starts in ``sandbox`` and imports ipykernel there; else why not."""
    with tempfile.TemporaryDirectory(prefix="cslib-sandbox-check-") as folder:
        folder = str(Path(folder).resolve())
        code = "import ipykernel, cslib, os; print('ok', os.getpid())"
        command = wrap(sandbox.to_json(), [sys.executable, "-c", code], [folder], dict(env, HOME=folder), folder)
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bwrap did not run: {e}"
        if done.returncode != 0 or not done.stdout.startswith("ok "):
            tail = " ".join((done.stderr or done.stdout).split())[-300:]
            return f"bwrap failed (exit code {done.returncode}): {tail}"
        if done.stdout.split()[1] == str(os.getpid()):  # pragma: no cover - a bwrap that shares our PID namespace
            return "bwrap did not create a PID namespace"
    return ""


def find(private: list[Path], env: dict[str, str], extra: list[Path] = (), gpu: bool = False) -> Sandbox:
    """A working bubblewrap sandbox for this machine, or :class:`SandboxError` saying why there is none."""
    if not sys.platform.startswith("linux"):
        raise SandboxError(f"no OS sandbox on {sys.platform}: bubblewrap needs Linux (grade in a Linux VM or "
                           f"container, or on Gradescope)")
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxError(f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}")
    read_only, skipped = read_only_paths(private, extra)
    sandbox = Sandbox(BUBBLEWRAP, bwrap, read_only, gpu_devices() if gpu else [], skipped)
    problem = probe(sandbox, env)
    if problem:
        hints = []
        if skipped:
            hints.append(f"not mounted because they overlap the grader's private paths: {', '.join(skipped)}")
        if any(word in problem for word in ("namespace", "not permitted", "uid map", "Permission denied")):
            hints.append("user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or "
                         "user.max_user_namespaces > 0)")
        raise SandboxError(f"bubblewrap cannot start a sandbox here ({problem}){''.join('; ' + h for h in hints)}")
    return sandbox
