"""`python -m soak [NAME ...] [-- ARGS]`: run the named soak runs (all of them by default).

Each is a module of this package with a ``main(argv) -> int`` that builds its own data, runs the
real processes against the fake Twilio, and prints its figures; exit status 1 when a figure is
out of bounds (a message lost or sent twice). See soak/README.md.
"""

from __future__ import annotations

import sys

from bench.__main__ import run

RUNS = {
    "crash": "soak.crash",
    "faults": "soak.faults",
    "web": "soak.web",
}


def main(argv: list[str] | None = None) -> int:
    return run(RUNS, sys.argv[1:] if argv is None else argv, __doc__ or "", "soak run")


if __name__ == "__main__":
    raise SystemExit(main())
