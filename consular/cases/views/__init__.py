"""Case screens: log a case (drafts, the duplicate check), the triage queue, the case page and its
actions, my cases, the station inbox, notifications and incidents.

Every case is fetched through ``get_scoped_or_404`` (out of scope → 404; admins have no case
access at all). A view checks its form and calls one operation of ``consular.cases.operations``;
the request commits once (``consular.app``'s hook). A refused input re-renders the form with its
messages (400) and writes nothing, a stale version or a state that no longer allows the action
answers 409, a role that may not act 403.
Every read of a case page or a file is recorded in the audit trail.

The modules: ``common`` (the blueprint, who may use the screens), ``display`` (labels, template
helpers, the navigation and the bell), ``intake`` (log a case, drafts), ``case`` (the case page, its
actions, the edit form, files), ``lists`` (queue, my cases, inbox, notifications) and ``incidents``
(with mass intake). Importing this package registers every screen on ``bp``.
"""

from consular.cases.views import case, incidents, intake, lists  # noqa: F401 (their routes join bp)
from consular.cases.views.common import bp

__all__ = ["bp"]
