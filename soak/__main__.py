"""`python -m soak [NAME ...] [-- ARGS]`: run the named soak runs (all of them by default).

Each is a module of this package with a ``main(argv) -> int`` that builds its own data, runs the
real processes against the fake Twilio, and prints its figures; exit status 1 when a figure is
out of bounds (a message lost or sent twice). See soak/README.md.
"""

from __future__ import annotations

import importlib
import sys

RUNS = {
    "crash": "soak.crash",
    "faults": "soak.faults",
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        print("soak runs: " + ", ".join(RUNS))
        return 0
    names = args or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        print(f"soak: unknown soak run {', '.join(unknown)}; choose from {', '.join(RUNS)}",
              file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"\n### {name}", flush=True)
        module = importlib.import_module(RUNS[name])
        status = max(status, int(module.main(extra) or 0))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
