"""Figures from the saved results (bench/results/*.json): throughput against workers (dispatch), cost
against scale (planning), and the first-message latency (e2e), as PNGs under bench/. A result file
that is missing is skipped with a message.

``python -m bench plots``
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.common import RESULTS

FIGURES = Path(__file__).resolve().parent


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        print(f"  plots: {path.name} not found (run `python -m bench {name}` first); skipped")
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _number(value: Any) -> float:
    try:
        result = float(str(value).rstrip("*%").replace(",", ""))
    except ValueError:
        return math.nan
    return result


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
    return plt


def _save(plt: Any, fig: Any, data: dict[str, Any], name: str) -> Path:
    """Caption the figure with when and where it was measured, write bench/<name>, close it."""
    fig.text(0.01, 0.01, f"{data.get('measured', '')}; {data.get('machine', '')}", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = FIGURES / name
    fig.savefig(path)
    plt.close(fig)
    return path


def throughput_vs_workers(data: dict[str, Any]) -> Path | None:
    """Every "…/s" column of dispatch.json against its processes (workers) column."""
    headers = [str(h) for h in data.get("headers", [])]
    rows = data.get("rows", [])
    x_at = next((i for i, h in enumerate(headers) if "process" in h.lower() or "worker" in h.lower()), None)
    series = [i for i, h in enumerate(headers) if h.endswith("/s")]
    if x_at is None or not series or not rows:
        print("  plots: dispatch.json has no processes column or no …/s column; skipped")
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = [_number(r[x_at]) for r in rows]
    for i in series:
        ax.plot(xs, [_number(r[i]) for r in rows], marker="o", label=headers[i])
    ax.set_xlabel("worker processes")
    ax.set_ylabel("messages per second")
    ax.set_xticks(sorted(set(xs)))
    ax.set_ylim(bottom=0)
    ax.set_title(str(data.get("title", "Dispatch throughput")))
    ax.legend()
    return _save(plt, fig, data, "throughput-vs-workers.png")


def cost_vs_scale(data: dict[str, Any]) -> Path | None:
    """Seconds to plan an alert against its recipients: ours, the engine's bound, the same INSERT
    without foreign keys and the ORM loop (dashed where extrapolated), per backend, log-log."""
    series = data.get("series") or []
    if not series:
        print("  plots: planning.json has no series; skipped")
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    styles = {"PostgreSQL": "-", "SQLite": ":"}
    colours = {"fan_out_s": "tab:blue", "no_fk_s": "tab:green", "bare_s": "tab:gray", "orm_s": "tab:red"}
    labels = {"fan_out_s": "fan_out (ours)", "no_fk_s": "same INSERT, no foreign keys",
              "bare_s": "bare INSERT … SELECT (1 unique index)", "orm_s": "ORM loop"}
    for backend in dict.fromkeys(s["backend"] for s in series):
        points = sorted((s for s in series if s["backend"] == backend
                         and not (backend == "PostgreSQL" and s["registry"] >= 5_000_000)),
                        key=lambda s: s["recipients"])
        for key, colour in colours.items():
            measured = [(s["recipients"], s[key]) for s in points
                        if s.get(key) is not None and not (key == "orm_s" and s.get("orm_extrapolated"))]
            if measured:
                ax.plot(*zip(*measured, strict=True), styles.get(backend, "-"), color=colour, marker="o",
                        label=f"{labels[key]}, {backend}")
            if key == "orm_s":
                guessed = [(s["recipients"], s[key]) for s in points
                           if s.get(key) and s.get("orm_extrapolated")]
                if guessed and measured:
                    line = [measured[-1], *guessed]
                    ax.plot(*zip(*line, strict=True), "--", color=colour, marker="x", alpha=0.6,
                            label=f"ORM loop, {backend} (extrapolated)")
    big = [s for s in series if s["registry"] >= 5_000_000]
    for s in big:
        ax.plot([s["recipients"]], [s["fan_out_s"]], "*", color="tab:purple", markersize=11,
                label=f"fan_out, 1M of a {s['registry'] / 1e6:.0f}M registry")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("recipients of the alert")
    ax.set_ylabel("seconds to create the deliveries")
    ax.set_title("Fan-out planning: cost against scale")
    ax.legend(fontsize=7)
    return _save(plt, fig, data, "cost-vs-scale.png")


def first_message_latency(data: dict[str, Any]) -> Path | None:
    """Each small alert's approval-to-provider time beside the bare client's, with the targets."""
    ours, bare = data.get("first_message_s") or [], data.get("bare_first_message_s") or []
    if not ours:
        print("  plots: e2e.json has no first-message latencies; skipped")
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    groups = [(f"ours: approval → provider\n({data.get('workers', '?')} workers)", ours),
              ("bare official client\n(same message)", bare)]
    for n, (_, values) in enumerate(groups):
        if values:
            ax.boxplot([values], positions=[n], widths=0.5, showfliers=False)
            ax.scatter([n + (i % 7 - 3) * 0.03 for i in range(len(values))], values, s=12, alpha=0.7)
    ax.axhline(1.0, color="tab:orange", linestyle="--", linewidth=1, label="target: median ≤ 1 s")
    ax.axhline(2.0, color="tab:red", linestyle=":", linewidth=1, label="target: p99 ≤ 2 s")
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_ylabel("seconds to the first message")
    ax.set_ylim(bottom=0)
    ax.set_title("First message after approval")
    ax.legend(fontsize=7, loc="upper right")
    return _save(plt, fig, data, "e2e-first-message.png")


def main(argv: list[str]) -> int:
    made = []
    for name, draw in (("dispatch", throughput_vs_workers), ("planning", cost_vs_scale),
                       ("e2e", first_message_latency)):
        data = _load(name)
        if data is not None:
            path = draw(data)
            if path is not None:
                made.append(path)
    for path in made:
        print(f"  wrote {path.relative_to(FIGURES.parent)}")
    return 0
