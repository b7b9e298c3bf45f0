"""``python -m cslib.grade``: the instructor's grader (see cslib/grade/__init__.py)."""
import sys

from cslib.grade import main

sys.exit(main())
