"""axe-core in a Chromium page, for the browser tests: the pinned file, the rules that fail a page,
and what is reported of a violation. A helper module, not a test module, so that tests share it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = ("serious", "critical")
# Rules outside those tags (axe's best practices) that the audit behind these tests found broken
# and that stay fixed: they fail whatever impact axe gives them.
ALSO = ["empty-table-header", "landmark-unique", "heading-order"]

# What axe returns: only what a reader of the failure needs.
RUN_AXE = """async ([tags, failing, also]) => {
  const rules = Object.fromEntries(also.map(id => [id, {enabled: true}]));
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, rules,
                                          resultTypes: ['violations']});
  return result.violations.filter(v => failing.includes(v.impact) || also.includes(v.id)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '')
                                         .replace(/\\s+/g, ' ').slice(0, 200)),
    count: v.nodes.length,
  }));
}"""


def axe_source() -> str:
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, f"{AXE} is not the pinned axe-core"
    return source.decode()


def run_axe(page: Any) -> list[dict[str, Any]]:
    """The failing violations on the page as it is now (axe loaded in it beforehand)."""
    return list(page.evaluate(RUN_AXE, [TAGS, list(FAILING), ALSO]))


def settle(page: Any) -> None:
    """Two animation frames: a new size laid out and the page's resize handlers run."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
