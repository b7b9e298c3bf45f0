"""Removing a submission's scratch folder, whatever the submission left in it.

``shutil.rmtree`` recurses once per folder level: a folder tree a few thousand levels deep (a few lines of
Python in a student's notebook) makes it raise ``RecursionError`` on Python 3.11, which ``ignore_errors``
does not catch; paths that deep are also longer than the system allows, and one open folder per level
would run out of file descriptors. :func:`remove_tree` flattens the tree instead: it moves every
sub-subfolder up to the top folder, then removes the subfolders, which are then one level deep. It holds
two folders open at a time, never follows a link, and never raises: what it cannot remove it leaves, and
returns how many entries that was.
"""
from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def remove_tree(path: str | Path) -> int:
    """Delete ``path`` and everything under it without recursion; returns the number of entries left behind."""
    path = Path(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return 0
        top = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return 0
    except OSError:
        return 1
    stuck: set[str] = set()  # names under the top folder that could not be removed or moved
    fresh = (f".cslib-flat-{i}" for i in itertools.count())
    try:
        while (name := _subfolder(top, stuck)) is not None:
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=top)
            except OSError:
                stuck.add(name)
                continue
            try:
                inner = _subfolder(fd, set())
                if inner is not None:  # move it up, next to its parent: one level less
                    os.rename(inner, next(fresh), src_dir_fd=fd, dst_dir_fd=top)
                else:  # only files are left in it: remove them, then it
                    for entry in _names(fd):
                        os.unlink(entry, dir_fd=fd)
                    os.rmdir(name, dir_fd=top)
            except OSError:
                stuck.add(name)
            finally:
                os.close(fd)
        for entry in _names(top):
            if entry not in stuck:
                try:
                    os.unlink(entry, dir_fd=top)
                except OSError:
                    stuck.add(entry)
    except Exception:  # noqa: BLE001 - cleanup must never take the grading run down with it
        stuck.add("?")
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        return max(1, len(stuck))
    return len(stuck)


def _names(fd: int) -> list[str]:
    try:
        with os.scandir(fd) as entries:
            return [e.name for e in entries]
    except OSError:
        return []


def _subfolder(fd: int, skip: set[str]) -> str | None:
    """The name of one real folder (not a link to one) in the folder ``fd``, other than those in ``skip``."""
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    if entry.name not in skip and entry.is_dir(follow_symlinks=False):
                        return entry.name
                except OSError:
                    continue
    except OSError:
        pass
    return None
