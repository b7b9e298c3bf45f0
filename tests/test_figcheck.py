"""cslib.figcheck: legend entries told apart by colour alone, with colours that look alike to some reader, are
found; the hook that the notebook tests run under fails the cell that shows such a figure."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from cslib import figcheck  # noqa: E402


def lines(*styles):
    """A figure with one labelled line per (colour, format) and a legend."""
    fig, ax = plt.subplots()
    for k, (colour, fmt) in enumerate(styles):
        ax.plot([0, 1], [k, k + 1], fmt, color=colour, label=f"line {k}")
    ax.set_title("curves")
    ax.legend()
    return fig


def test_colour_differences_match_the_simulations():
    assert figcheck.difference("tab:orange", "tab:green") > 50  # far apart to normal vision
    assert figcheck.difference("tab:orange", "tab:green", "protanopia") < figcheck.ALIKE  # one colour without red cones
    assert figcheck.difference("tab:green", "tab:red", "deuteranopia") < figcheck.ALIKE
    assert figcheck.lookalike("tab:blue", "tab:orange") is None  # the first two of matplotlib's palette: safe
    assert figcheck.lookalike("tab:orange", "tab:green") == "protanopia"
    assert figcheck.lookalike("black", "0.1") == "normal"
    with pytest.raises(ValueError, match="vision is"):
        figcheck.difference("red", "blue", "colour blind")


def test_lines_alike_in_colour_and_style_are_named():
    problems = figcheck.colour_only(lines(("tab:orange", "-"), ("tab:green", "-"), ("tab:blue", "-")))
    assert len(problems) == 1, problems
    assert "'line 0' and 'line 1' (in 'curves') differ only in colour" in problems[0]
    assert "a reader with protanopia" in problems[0] and "markers or line styles" in problems[0]


@pytest.mark.parametrize("second", ["--", "s-", "o:"])
def test_a_marker_or_a_line_style_tells_them_apart(second):
    assert figcheck.colour_only(lines(("tab:orange", "-"), ("tab:green", second))) == []


def test_bars_need_a_hatch_where_their_colours_look_alike():
    fig, ax = plt.subplots()
    ax.bar([0, 1], [1, 2], color="tab:green", label="train")
    ax.bar([0.4, 1.4], [1, 2], color="tab:red", label="test")
    ax.legend()
    assert len(figcheck.colour_only(fig)) == 1
    fig, ax = plt.subplots()
    ax.bar([0, 1], [1, 2], color="tab:green", label="train")
    ax.bar([0.4, 1.4], [1, 2], color="tab:red", hatch="//", label="test")
    ax.legend()
    assert figcheck.colour_only(fig) == []


def test_figure_legends_and_errorbars_are_read_too():
    fig, (a, b) = plt.subplots(1, 2)
    a.errorbar([0, 1], [1, 2], yerr=0.1, color="tab:green", marker="o", label="x")
    b.errorbar([0, 1], [2, 3], yerr=0.1, color="tab:red", marker="o", label="y")
    fig.legend()
    assert len(figcheck.colour_only(fig)) == 1
    b.lines[0].set_marker("s")  # the error bars' data lines, which the legend's own entries leave out, now differ
    assert figcheck.colour_only(fig) == []
    plt.close("all")


def test_the_watch_fails_the_cell_that_shows_such_a_figure(tmp_path):
    """In a real kernel, as nbval runs the notebooks: cslib.setup() with CSLIB_CHECK_FIGURES=1 installs the watch. A
    cell showing orange and green lines alike in style gets an error output (which fails it under nbval) and no
    picture; with markers, the picture is shown. The first figure of the session is checked too."""
    from nbclient import NotebookClient

    def plot(second, show="plt.show()"):
        return ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                "ax.plot([0, 1], color='tab:orange', label='a')\n"
                f"ax.plot([1, 0], '{second}', color='tab:green', label='b')\nax.legend()\n{show}")

    cells = [nbformat.v4.new_code_cell("import cslib\ncslib.setup()"), nbformat.v4.new_code_cell(plot("-")),
             nbformat.v4.new_code_cell(plot("s--")), nbformat.v4.new_code_cell(plot("-", show="fig"))]
    notebook = nbformat.v4.new_notebook(cells=cells)
    env = dict(os.environ, CSLIB_CHECK_FIGURES="1", CSLIB_FAST="1")
    env.pop("MPLBACKEND", None)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)

    def shown(cell):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        return errors, pictures

    for alike in (notebook.cells[1], notebook.cells[3]):  # plt.show(), and the figure as the cell's value
        errors, pictures = shown(alike)
        assert errors and "tells lines apart by colour alone" in errors[0].evalue and not pictures, alike.outputs
    errors, pictures = shown(notebook.cells[2])
    assert not errors and len(pictures) == 1, notebook.cells[2].outputs


def test_other_cues_than_colour_count_and_odd_colours_do_not_crash():
    """A scatter's marker shape, custom dashes and hollow patches tell entries apart; transparent faces are not
    colours; colours given as (name, alpha) are read; nested subfigures' legends are read too."""
    fig, ax = plt.subplots()
    ax.scatter([0], [0], color="tab:orange", marker="o", label="a")
    ax.scatter([1], [1], color="tab:green", marker="s", label="b")
    ax.legend()
    assert figcheck.colour_only(fig) == []
    fig, ax = plt.subplots()
    ax.plot([0, 1], linestyle=(0, (5, 1)), color="tab:orange", label="a")
    ax.plot([1, 0], linestyle=(0, (1, 3)), color="tab:green", label="b")
    ax.legend()
    assert figcheck.colour_only(fig) == []
    fig, ax = plt.subplots()
    ax.bar([0], [1], facecolor="none", edgecolor="tab:blue", label="a")
    ax.bar([1], [1], facecolor="none", edgecolor="tab:orange", label="b")
    ax.legend()
    assert figcheck.colour_only(fig) == [], "outlined bars of two colours that differ for every reader"
    fig, ax = plt.subplots()
    ax.plot([0, 1], color=("tab:orange", 0.5), label="a")
    ax.plot([1, 0], color=("tab:green", 0.5), label="b")
    ax.legend()
    assert len(figcheck.colour_only(fig)) == 1
    fig = plt.figure()
    inner = fig.subfigures(1, 2)[1].subfigures(2, 1)[0]
    axes = inner.subplots()
    axes.plot([0, 1], color="tab:orange", label="a")
    axes.plot([1, 0], color="tab:green", label="b")
    inner.legend()
    assert len(figcheck.colour_only(fig)) == 1
    plt.close("all")
