"""What one kernel may use, enforced by the operating system: a Linux control group ("cgroup") per kernel start.

Each kernel (with every process it starts, however it detaches) runs in a fresh cgroup with

- a **memory** limit on all of them together, shared memory and the sandbox's in-memory ``/tmp``,
  ``/dev/shm`` and scratch folder included (beyond it the kernel's own processes are killed, nobody else's);
- a limit on the number of **tasks** (processes and threads): a fork bomb stops there;
- an equal **CPU weight**: a kernel that starts 40 busy processes gets one share of the CPU, like every
  other kernel, and cannot slow the others down more than one more kernel would.

cgroup v2 (``/sys/fs/cgroup`` with ``cgroup.controllers``) and v1 (the ``memory``, ``pids`` and ``cpu``
hierarchies) are both used where writable, which is where the grader runs as root. The kernel is moved into
its cgroup by a one-line shell that then ``exec``s the sandbox (:func:`enter_command`), so it is in the cgroup
before any of its code runs; inside the sandbox
``/sys`` is not mounted (read-only with ``--gpu``) and every capability is dropped, so it cannot leave.
This file is loaded by path in the worker (which does not import the cslib package).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "cslib-grade"
V1_CONTROLLERS = ("memory", "pids", "cpu")
# The shell that puts itself into the cgroup (each cgroup.procs file given before "--"), then becomes the command.
ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class LimitsError(RuntimeError):
    """No cgroup could be made here (the message says why)."""


@dataclass
class Group:
    """One kernel's cgroup: ``paths`` is one folder (v2) or one per controller (v1)."""

    version: int
    paths: list[str] = field(default_factory=list)
    cpu: bool = False  # whether the cpu controller gives it an equal share (where the system has one)

    def procs_files(self) -> list[str]:
        return [str(Path(p) / "cgroup.procs") for p in self.paths]

    def pids(self) -> set[int]:
        found = set()
        for name in self.procs_files():
            try:
                found |= {int(line) for line in Path(name).read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def oom_kills(self) -> int:
        """How many of its processes the kernel's OOM killer ended for going over the memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for path in self.paths:
            try:
                for line in (Path(path) / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
            except (OSError, ValueError):
                pass
        return 0

    def remove(self) -> None:
        """Kill whatever is left in the cgroup and remove it; never raises."""
        for _ in range(50):
            left = self.pids()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for path in self.paths:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            if not any(os.path.isdir(p) for p in self.paths):
                return
            time.sleep(0.05)  # killed processes take a moment to leave


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _own_path(controller: str) -> str:
    """This process's cgroup in a v1 hierarchy ("/" when not listed)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                return path
    except (OSError, ValueError):
        pass
    return "/"


def _v2_root() -> Path | None:
    for root in (ROOT, ROOT / "unified"):
        try:
            controllers = (root / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if {"memory", "pids"} <= set(controllers):
            return root
    return None


def create(name: str, memory_bytes: int | None, tasks: int | None) -> Group:
    """A new cgroup called ``name`` (unique to this kernel start) with these limits, or :class:`LimitsError`."""
    root = _v2_root()
    group = Group(2 if root else 1)
    try:
        if root is not None:
            base = root / PREFIX
            for controller in ("memory", "pids", "cpu"):  # the root may hand controllers down; cpu is optional
                for parent in (root, base):
                    parent.mkdir(exist_ok=True)
                    try:
                        _write(parent / "cgroup.subtree_control", f"+{controller}")
                    except OSError:
                        if controller != "cpu":
                            raise
            group.cpu = "cpu" in (base / "cgroup.subtree_control").read_text().split()
            path = base / name
            path.mkdir()
            group.paths.append(str(path))
            if memory_bytes:
                _write(path / "memory.max", str(memory_bytes))
                if (path / "memory.swap.max").exists():
                    _write(path / "memory.swap.max", "0")
            if tasks:
                _write(path / "pids.max", str(tasks))
        else:
            for controller in V1_CONTROLLERS:
                hierarchy = ROOT / controller
                if not (hierarchy / "cgroup.procs").exists():
                    if controller == "cpu":  # an equal share without it: every kernel in the grader's own group
                        continue
                    raise LimitsError(f"no cgroup hierarchy for {controller} (neither v2 at {ROOT} nor v1 at {hierarchy})")
                path = hierarchy / _own_path(controller).lstrip("/") / f"{PREFIX}-{name}"
                path.mkdir()
                group.paths.append(str(path))
                group.cpu = group.cpu or controller == "cpu"
                if controller == "memory" and memory_bytes:
                    _write(path / "memory.limit_in_bytes", str(memory_bytes))
                    if (path / "memory.memsw.limit_in_bytes").exists():  # swap too, where it is accounted
                        try:
                            _write(path / "memory.memsw.limit_in_bytes", str(memory_bytes))
                        except OSError:
                            pass
                if controller == "pids" and tasks:
                    _write(path / "pids.max", str(tasks))
    except OSError as e:
        group.remove()
        raise LimitsError(f"cannot make a cgroup ({type(e).__name__}: {e}); the grader must run as root") from e
    return group


def enter_command(group: Group, command: list[str]) -> list[str]:
    """``command``, started in ``group`` (a shell writes its own pid into the cgroup, then ``exec``s it)."""
    return ["/bin/sh", "-c", ENTER, "cslib-limits", *group.procs_files(), "--", *command]


def check() -> tuple[str, bool]:
    """('', whether kernels get an equal CPU share) if cgroups with limits can be made here, else (why not, False)."""
    try:
        group = create(f"check-{os.getpid()}", 2**30, 64)
    except LimitsError as e:
        return str(e), False
    group.remove()
    return "", group.cpu


def private_mounts() -> str:
    """Give this process (and what it starts) a mount namespace of its own, its mounts seen by no other process and
    gone with the last process in it, whatever ends them: '' if done, else why not (it takes root, and one thread)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        return f"unshare: {os.strerror(ctypes.get_errno())}"
    if libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE: nothing propagates out
        return f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}"
    return ""


def mount_in_memory(folder: str | Path, size_bytes: int) -> str:
    """Mount a fresh in-memory folder (tmpfs) of ``size_bytes`` on ``folder``: '' if done, else why not (it takes
    root). What a kernel writes there cannot fill the disk, and with a cgroup it counts in the kernel's memory."""
    options = f"size={size_bytes},nr_inodes=4096,mode=0700,nosuid,nodev"  # inodes too: empty files cost memory
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "cslib-grade", str(folder)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{type(e).__name__}: {e}"
    return "" if done.returncode == 0 else (done.stderr.strip() or f"mount exited with {done.returncode}")


def unmount_all(folder: str | Path) -> None:
    """Unmount every mount at or under ``folder`` (lazily: a process still inside keeps it until it ends), mounts
    stacked on one folder included; never raises."""
    top = os.path.realpath(folder)
    for _ in range(10):
        try:
            lines = os.fsdecode(Path("/proc/self/mountinfo").read_bytes()).splitlines()
            points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]) for line in lines]
        except Exception:  # noqa: BLE001 - never raises
            return
        mounted = sorted({p for p in points if p == top or p.startswith(top + "/")}, key=len, reverse=True)
        if not mounted:
            return
        for point in mounted:
            try:
                subprocess.run(["umount", "-l", point], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            except (OSError, subprocess.SubprocessError):
                return
