"""`python -m bench [NAME ...] [-- ARGS]`: run the named benchmarks (all of them by default).

Each benchmark is a module of this package with a ``main(argv) -> int`` that creates its own data,
runs the real code path beside its baseline, and prints one table. See bench/README.md.
"""

from __future__ import annotations

import importlib
import sys

# Order matters only for a full run: the cheap ones first.
BENCHMARKS = {
    "planning": "bench.planning",
    "dispatch": "bench.dispatch",
    "ratelimit": "bench.ratelimit",
    "e2e": "bench.e2e",
    "webhooks": "bench.webhooks",
    "outbound": "bench.outbound",
    "cases": "bench.cases",
    "crisis": "bench.crisis",
    "hazards": "bench.hazards",
    "plots": "bench.plots",
}


def run(registry: dict[str, str], argv: list[str], doc: str, kind: str) -> int:
    """Run the modules of ``registry`` named in ``argv`` (all by default), passing what follows
    ``--`` to each; the worst exit status wins. Shared with ``python -m soak``."""
    args = list(argv)
    extra: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1:]
    if args and args[0] in ("-h", "--help"):
        print(doc)
        print(f"{kind}s: " + ", ".join(registry))
        return 0
    names = args or list(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        print(f"unknown {kind} {', '.join(unknown)}; choose from {', '.join(registry)}", file=sys.stderr)
        return 2
    from bench.common import note_start_load

    status = 0
    for name in names:
        print(f"\n### {name}", flush=True)
        print(f"load average (1 / 5 / 15 min): {note_start_load()}", flush=True)
        module = importlib.import_module(registry[name])
        status = max(status, int(module.main(extra) or 0))
    return status


def main(argv: list[str] | None = None) -> int:
    return run(BENCHMARKS, sys.argv[1:] if argv is None else argv, __doc__ or "", "benchmark")


if __name__ == "__main__":
    raise SystemExit(main())
