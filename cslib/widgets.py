"""Interactive explorers for the lectures, built with ipywidgets (JupyterLab, Jupyter Notebook, Colab).

Each explorer is a thin layer of sliders over a plain function that draws one matplotlib figure for
one setting. The notebooks also call that function once for a static figure (so they read well on
GitHub and in nbval), and the tests call it directly. Only the API shared by ipywidgets 7 and 8 is
used, so the explorers work in Colab too.
"""
from __future__ import annotations


def _ipywidgets():
    """ipywidgets, imported when an explorer is built (the rest of cslib does not need it)."""
    import ipywidgets

    return ipywidgets
