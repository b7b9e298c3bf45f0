"""python -m cslib.site build [--out _site]: the course as a static website (see cslib/site/__init__.py).

python -m cslib.site slideshow [--check]: write into each lecture notebook the slide type of every cell (cell
metadata slideshow.slide_type, marked as computed), so that RISE presents it live as the site's slides show it; an
author's own slide types are kept. With --check, write nothing and exit 1 if a notebook is not up to date.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cslib.site import BRANCH, REPOSITORY, SiteError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cslib.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "slideshow"])
    parser.add_argument("--check", action="store_true", help="slideshow: write nothing; exit 1 if a lecture is not up to date")
    parser.add_argument("--out", default="_site", help="the folder to write the site into (default: _site); "
                        "an earlier site there is replaced, any other non-empty folder is refused")
    parser.add_argument("--root", default=".", help="the course repository (default: here)")
    parser.add_argument("--repository", default=REPOSITORY, help=f"the GitHub repository the Colab links open (default: {REPOSITORY})")
    parser.add_argument("--branch", default=BRANCH, help=f"its branch (default: {BRANCH})")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="Sphinx processes (default: 1)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and the summary")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Sphinx's own progress too")
    args = parser.parse_args(argv)
    if args.command == "slideshow":
        return slideshow(Path(args.root), args.check)
    try:
        result = build(args.out, args.root, args.repository, args.branch, quiet=args.quiet, verbose=args.verbose, jobs=args.jobs)
    except (SiteError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the earlier site (if any) is unchanged", file=sys.stderr)
        return 130
    for warning in result["warnings"]:
        print(warning, file=sys.stderr)
    print(f"built {result['pages']} pages and {result['slides']} slides into {result['out']} in {result['seconds']:.0f} s "
          f"({len(result['warnings'])} warnings; checked for {result['secret_lines']} solution lines: none found)")
    print(f"open {result['out'] / 'index.html'}, or serve it: python -m http.server -d {args.out} 8000")
    return 0


def slideshow(root: Path, check: bool) -> int:
    """Write (or with ``check``, compare) the slide types of every lecture notebook under ``root``/notebooks."""
    from cslib.site.slides import SlidesError, write_live_metadata

    lectures = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    if not lectures:
        print(f"error: no lecture notebooks in {root / 'notebooks'} (give the course repository with --root)", file=sys.stderr)
        return 1
    stale = []
    for path in lectures:
        try:
            if write_live_metadata(path, check=check):
                stale.append(path.name)
        except SlidesError as e:
            print(f"error: {path.name}: {e}", file=sys.stderr)
            return 1
    if check:
        print(f"out of date (run python -m cslib.site slideshow): {', '.join(stale)}" if stale else
              f"the slide types of {len(lectures)} lectures are up to date")
        return 1 if stale else 0
    print(f"wrote the slide types of {len(stale)} of {len(lectures)} lectures" + (f": {', '.join(stale)}" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
