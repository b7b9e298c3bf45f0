"""Sphinx settings of the course site (copied next to the staged pages by ``python -m cslib.site build``).

The stack is the Jupyter Book 1 one, run as plain Sphinx: MyST-NB reads the stored notebooks
without executing them, sphinx-book-theme lays the pages out, sphinx-copybutton adds the copy
buttons, and MathJax 3 is served from the site itself (from the sphinx-mathjax-offline package),
so neither the build nor the pages need the network. ``course.json`` beside this file holds what
the build decides (title, repository, branch).
"""
import json
from pathlib import Path

course = json.loads((Path(__file__).parent / "course.json").read_text(encoding="utf-8"))

project = course["title"]
author = "the course's authors"
copyright = "the course's authors, MIT licence"
language = "en"
extensions = ["myst_nb", "sphinx_copybutton"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # notebooks may jump from # to ### (a lab's "### Hints")

# MyST-NB: show the stored outputs, never execute; $...$ and $$...$$ are math, as in Jupyter.
nb_execution_mode = "off"
nb_merge_streams = True
nb_output_stderr = "show"
nb_ipywidgets_js = {}  # widgets are made static before the build: no widget JavaScript from a CDN
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 3  # links such as grading.md#gradescope, as on GitHub

# MathJax from the site itself (_static/mathjax, copied by the build), never from a CDN.
mathjax_path = "mathjax/tex-chtml.js"

# Copy buttons on code cells and shell commands, not on outputs.
copybutton_selector = "div.cell_input div.highlight pre, div.highlight-bash div.highlight pre"
copybutton_exclude = ".linenos, .gp"

html_theme = "sphinx_book_theme"
html_title = course["title"]
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = False  # the notebooks themselves are offered for download, next to each page
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": course["repository"],
    "repository_branch": course["branch"],
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "navbar_persistent": [],  # no second search field in a header bar (the sidebar has one)
}
