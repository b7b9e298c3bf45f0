"""The grader's cleanup of a scratch folder: deep trees, links and odd files never stop it, and it never raises.

In the sandbox, as root, what a kernel writes is in memory (its scratch and start folders), gone with its mounts
before this cleanup runs; where the grader cannot mount (not root), a kernel's start folder is on disk, and this is
what removes the tree a kernel made there: a 2,500-level tree once made it raise RecursionError and lose the CSV."""
import os

from cslib.grade.cleanup import remove_tree


def deep_tree(root, levels: int) -> None:
    """A chain of `levels` nested folders, made through folder descriptors (the path is too long for the system)."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        with open(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
            f.write("x")
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


def test_a_tree_thousands_of_levels_deep_is_removed(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    deep_tree(scratch, 2500)
    assert remove_tree(scratch) == 0
    assert not scratch.exists()


def test_links_are_removed_not_followed_and_odd_files_go_too(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    scratch = tmp_path / "scratch"
    (scratch / "a" / "b").mkdir(parents=True)
    (scratch / "a" / "to_outside").symlink_to(outside, target_is_directory=True)
    (scratch / "a" / "b" / "file").write_text("x")
    os.mkfifo(scratch / "pipe")
    assert remove_tree(scratch) == 0
    assert not scratch.exists() and (outside / "keep.txt").read_text() == "mine"


def test_what_cannot_be_removed_is_counted_and_nothing_raises(tmp_path):
    assert remove_tree(tmp_path / "never-made") == 0
    file = tmp_path / "just-a-file"
    file.write_text("x")
    assert remove_tree(file) == 0 and not file.exists()
