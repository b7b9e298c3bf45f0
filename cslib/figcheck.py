"""Figures readable without full colour vision: legend entries that differ only in colour must differ enough.

About one man in twelve sees colours with a deficiency; to him, the orange and the green of a plot can be one
colour. :func:`colour_only` reads a matplotlib figure's legends and names every two entries with the same line
style, marker and hatch whose colours look alike to normal vision or under a simulated protanopia,
deuteranopia or tritanopia (Machado, Oliveira and Fernandes, 2009, full severity): a reader could not tell them
apart. The fix is a marker or a line style (or a hatch for bars), not another colour.

The tests run every lecture and lab solution with ``CSLIB_CHECK_FIGURES=1``: :func:`cslib.setup` then calls
:func:`watch`, which checks every figure a cell shows and fails the cell that shows one with such a pair.
"""
from __future__ import annotations

import sys

import numpy as np
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure

# Machado et al. (2009), severity 1.0, for linear RGB.
DEFICIENCIES = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
ALIKE = 12.0  # CIE 1976 colour difference below which two colours of a legend count as one (2.3 is just noticeable)


def _linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _lab(linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of a linear-RGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def difference(a, b, vision: str = "normal") -> float:
    """The CIE 1976 colour difference of two matplotlib colours as seen with ``vision`` ("normal" or a deficiency)."""
    if vision != "normal" and vision not in DEFICIENCIES:
        raise ValueError(f"vision is 'normal' or one of {sorted(DEFICIENCIES)}, got {vision!r}")
    seen = []
    for colour in (a, b):
        linear = _linear(np.array(to_rgb(colour)))
        if vision != "normal":
            linear = np.clip(DEFICIENCIES[vision] @ linear, 0, 1)
        seen.append(_lab(linear))
    return float(np.linalg.norm(seen[0] - seen[1]))


def lookalike(a, b) -> str | None:
    """The vision ("normal" first, then each deficiency) under which colours ``a`` and ``b`` look alike, or None."""
    for vision in ("normal", *DEFICIENCIES):
        if difference(a, b, vision) < ALIKE:
            return vision
    return None


def _style(handle) -> tuple:
    """What tells a legend entry apart besides its colour: line style and dashes, marker (a scatter's marker shape),
    whether its markers or patch are hollow, hatch."""
    def get(name, default=None):
        try:
            return getattr(handle, f"get_{name}", lambda: default)()
        except Exception:  # an artist that cannot say: it does not tell entries apart by this
            return default

    line = get("linestyle", "None")
    line = "None" if isinstance(line, str) and line in ("", " ", "none", "None") else str(line)
    dashes = getattr(handle, "_unscaled_dash_pattern", None)  # Line2D: the dashes themselves ('--' hides custom ones)
    paths = get("paths") or []  # a scatter's legend handle: the marker's outline
    shape = tuple(np.round(path.vertices, 2).tobytes() for path in paths[:1])
    hollow = str(get("markerfacecolor", "")).lower() == "none" or get("fill", True) is False
    return (line, str(dashes), str(get("marker", "None")), shape, hollow, get("hatch"))


def _colour(handle):
    """The colour a reader matches a legend entry by: a line's, else the fill, else the outline (the first of a
    collection's); None if it has none that is visible."""
    for name in ("color", "facecolor", "edgecolor"):
        try:
            value = getattr(handle, f"get_{name}", lambda: None)()
            if value is None:
                continue
            try:
                rgba = to_rgba(value)  # a name, "#hex", an RGB(A) tuple, ("tab:orange", 0.5)
            except (TypeError, ValueError):
                rows = np.asarray(value, dtype=float)  # a collection's colours, one row each: its first
                if rows.ndim != 2 or len(rows) == 0:
                    continue
                rgba = to_rgba(tuple(rows[0]))
        except (TypeError, ValueError):  # a colour it cannot read: try the next property
            continue
        if rgba[3] > 0:  # 'none' is transparent: not what the reader sees
            return rgba[:3]
    return None


def _legends(fig) -> list:
    """Every legend of the figure: its axes' (ax.legend(), and ones added with ax.add_artist) and its own, in
    subfigures at any depth too."""
    from matplotlib.legend import Legend

    found, panels = [], [fig]
    for panel in panels:
        panels += list(getattr(panel, "subfigs", []))
        found += list(getattr(panel, "legends", []))
    for ax in fig.axes:
        found += [child for child in ax.get_children() if isinstance(child, Legend)]
    return list(dict.fromkeys(found))  # once each, in order


def _drawn(fig) -> dict:
    """The artist drawn for each label of the figure, as a legend entry stands for it: a line, a scatter, a bar's
    first patch, an error bar's data line (a legend's own entry for an error bar is only its bar, without marker)."""
    drawn = {}
    for ax in fig.axes:
        for container in ax.containers:
            kind = type(container).__name__
            first = (container.lines[0] if kind == "ErrorbarContainer" else
                     container.patches[0] if kind == "BarContainer" and len(container.patches) else None)
            if first is not None:
                drawn.setdefault(container.get_label(), first)
        for artist in [*ax.lines, *ax.collections, *ax.patches]:
            drawn.setdefault(artist.get_label(), artist)
    return drawn


def colour_only(fig: Figure) -> list[str]:
    """Every two entries of one legend of ``fig`` told apart by colour alone, with colours that look alike."""
    found, drawn = [], _drawn(fig)
    for legend in _legends(fig):
        handles = getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", [])  # matplotlib < 3.7
        entries = [(text.get_text(), drawn.get(text.get_text(), handle))
                   for text, handle in zip(legend.get_texts(), handles) if handle is not None]
        for i, (name_a, a) in enumerate(entries):
            for name_b, b in entries[i + 1:]:
                colours = _colour(a), _colour(b)
                if None in colours or _style(a) != _style(b):
                    continue
                vision = lookalike(*colours)
                if vision:
                    where = legend.axes.get_title() if legend.axes is not None else ""
                    found.append(f"{name_a!r} and {name_b!r}{f' (in {where!r})' if where else ''} differ only in colour, "
                                 f"and look alike to {'anyone' if vision == 'normal' else f'a reader with {vision}'}: "
                                 "give them different markers or line styles (hatches for bars)")
    return found


def watch() -> None:
    """In IPython: fail the cell that shows a figure with legend entries told apart by colour alone that look alike
    (see :func:`colour_only`). It wraps the function that turns a figure into the PNG a notebook stores, so that it
    sees every figure shown, by ``plt.show()``, ``display`` or at the end of a cell."""
    import matplotlib.pyplot as plt
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    plt.close(plt.figure())  # loads the inline backend now, which registers its own PNG printer: wrap that one
    png = shell.display_formatter.formatters["image/png"]

    def wrap(*_):  # again before every cell: %matplotlib inline or set_matplotlib_formats register a new printer
        try:
            printer = png.lookup_by_type(Figure)
        except KeyError:  # no PNG of figures in this kernel (another backend, or SVG only): nothing to check
            if not getattr(wrap, "warned", False):
                print("cslib.figcheck: this kernel shows no PNG of a figure; its figures are not checked", file=sys.stderr)
                wrap.warned = True
            return
        if getattr(printer, "checks_colours", False):
            return

        def checked(fig, *args, **kwargs):
            problems = colour_only(fig)
            if problems:
                raise AssertionError("a figure tells lines apart by colour alone:\n  " + "\n  ".join(problems))
            return printer(fig, *args, **kwargs)

        checked.checks_colours = True
        png.for_type(Figure, checked)

    wrap()
    shell.events.register("pre_execute", wrap)
