"""Report the import cycles among the modules of the project's packages (grimp's import graph).

Usage: ``python scripts/import_cycles.py [--check PACKAGE ...] [PACKAGE ...]`` (default packages:
alerts, consular, config, i18n). Every import counts, those inside functions too (a deferred import
still ties two modules together); imports under ``if TYPE_CHECKING:`` do not (they never run).

Each group of modules that reach one another is printed with the shortest cycle through each of its
imports, so every import that takes part in a cycle is shown once. With ``--check alerts`` the exit
status is 1 when a cycle goes through a module of ``alerts`` (cycles elsewhere are still reported).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

DEFAULT_PACKAGES = ("alerts", "consular", "config", "i18n")


def import_graph(packages: Iterable[str]) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` it imports directly."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def strongly_connected(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The groups of two or more modules that all reach one another (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def shortest_path(edges: Mapping[str, set[str]], start: str, goal: str, within: set[str]) -> list[str]:
    """Breadth-first path from ``start`` to ``goal`` through modules of ``within``."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(edges.get(node, ())):
                if child in within and child not in previous:
                    previous[child] = node
                    if child == goal:
                        path = [child]
                        while previous[path[-1]] is not None:
                            path.append(previous[path[-1]])  # type: ignore[arg-type]
                        return path[::-1]
                    following.append(child)
        frontier = following
    return []


def cycles_of(edges: Mapping[str, set[str]], group: list[str]) -> list[list[str]]:
    """For each import inside ``group``, the shortest cycle through it (duplicates dropped)."""
    members = set(group)
    seen: set[tuple[str, ...]] = set()
    cycles: list[list[str]] = []
    for source in group:
        for target in sorted(edges.get(source, set()) & members):
            back = shortest_path(edges, target, source, members) if target != source else [source]
            cycle = [source, *back[:-1]] if target != source else [source]
            turn = cycle.index(min(cycle))
            key = tuple(cycle[turn:] + cycle[:turn])
            if key not in seen:
                seen.add(key)
                cycles.append(list(key))
    return sorted(cycles, key=lambda c: (len(c), c))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--check", action="append", default=[], metavar="PACKAGE",
                        help="exit 1 when a cycle goes through PACKAGE (may be repeated)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    edges = import_graph(args.packages)
    groups = strongly_connected(edges)
    every: list[list[str]] = []
    for group in groups:
        cycles = cycles_of(edges, group)
        every += cycles
        print(f"{len(group)} modules that import one another ({len(cycles)} cycles):")
        for cycle in cycles:
            print("  " + " -> ".join([*cycle, cycle[0]]))
    print(f"{len(groups)} groups of modules in cycles, {len(every)} cycles in all")
    failing = False
    for package in sorted({*args.packages, *args.check}):
        touching = [c for c in every if any(_within(m, package) for m in c)]
        print(f"{package}: {len(touching)} cycles go through it")
        failing = failing or (package in args.check and bool(touching))
    return 1 if failing else 0


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


if __name__ == "__main__":
    sys.exit(main())
