"""python -m cslib.site build [--out _site]: the course as a static website (see cslib/site/__init__.py)."""
from __future__ import annotations

import argparse
import sys

from cslib.site import BRANCH, REPOSITORY, SiteError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cslib.site", description=__doc__.split(":")[1].strip())
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--out", default="_site", help="the folder to write the site into (default: _site); "
                        "an earlier site there is replaced, any other non-empty folder is refused")
    parser.add_argument("--root", default=".", help="the course repository (default: here)")
    parser.add_argument("--repository", default=REPOSITORY, help=f"the GitHub repository the Colab links open (default: {REPOSITORY})")
    parser.add_argument("--branch", default=BRANCH, help=f"its branch (default: {BRANCH})")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="Sphinx processes (default: 1)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and the summary")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Sphinx's own progress too")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
