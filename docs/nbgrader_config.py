# The course's nbgrader settings. Append this file to your course directory's nbgrader_config.py
# (docs/instructors.md, "nbgrader"); tests/test_nbgrader_workflow.py runs those steps as written.
c = get_config()  # noqa: F821 - nbgrader's config files get `get_config` from traitlets

# `nbgrader quickstart` makes every release start with its header notebook; labs/ has none.
c.IncludeHeaderFooter.header = ""
# nbgrader's 30 s per cell is too short for lab 1's training.
c.Execute.timeout = 600
# Feedback without the hidden tests and their seeds: nbgrader's feedback is the autograded notebook,
# which holds the hidden tests again; ClearHiddenTests takes them out before it becomes HTML.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
# Feedback that shows its formulas offline: MathJax inside each feedback file (from the sphinx-mathjax-offline
# package, which the instructor install brings), where nbconvert's default loads it from a CDN.
c.GenerateFeedback.exporter_class = "cslib.labs.OfflineFeedback"
