"""Display helpers of the case screens: labels in the reader's language, durations, sizes
and dates, the template helpers, the navigation entries and the bell on every page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal
from babel.units import format_unit
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

import i18n
from config import current_settings
from consular.auth.models import Role, User
from consular.auth.scoping import can_see_cases
from consular.cases import operations as ops
from consular.cases.forms import (
    ASSIGNMENT_LABELS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    GENDER_LABELS,
    ID_KIND_LABELS,
    KIND_LABELS,
    OUTCOME_LABELS,
    PERSON_ROLE_LABELS,
    PRIORITY_LABELS,
    REFERRAL_STATUS_LABELS,
    REFERRAL_TARGET_LABELS,
    STATUS_LABELS,
    STATUS_SHORT,
    TIMELINE_ACTION_LABELS,
    TIMELINE_LABELS,
)
from consular.cases.models import (
    Case,
    DuplicateState,
    PossibleDuplicate,
    Referral,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.operations.notifications import kept_unread_count
from consular.cases.views.common import bp
from consular.network.names import name_in
from consular.web.a11y import in_lang

# --- labels for the templates -------------------------------------------------------------------


def _label(labels: Mapping[Any, Any], value: Any) -> str:
    if value is None or value == "":
        return ""
    for key, label in labels.items():
        if key == value or str(getattr(key, "value", key)) == str(value):
            return str(label[0] if isinstance(label, tuple) else label)
    return str(value)


def _memo_label(labels: Mapping[Any, Any]) -> Callable[[Any], str]:
    """``_label`` over ``labels``, each value translated once per page: a list of cases asks for
    the same few statuses and priorities on every row, and each translation looks up the locale and
    the catalog again."""
    seen: dict[Any, str] = {}

    def label(value: Any) -> str:
        try:
            return seen[value]
        except KeyError:
            text = seen[value] = _label(labels, value)
            return text
        except TypeError:  # not hashable: no value of these tables, said as it is
            return _label(labels, value)

    return label


@lru_cache(maxsize=4096)
def _duration_part(value: float, unit: Literal["day", "hour", "minute"], locale: Locale) -> str:
    """``value`` seconds in whole ``unit``s, in ``locale``: remembered, as lists show the same few
    spans (days, hours) on every row and page."""
    return str(format_timedelta(timedelta(seconds=value), granularity=unit, threshold=1000,
                                format="short", locale=locale))


def duration(span: timedelta | None, locale: Locale | None = None) -> str:
    """'3 hours', '2 days 4 hours', '12 minutes' in the reader's language (``locale``, when the
    caller has it at hand)."""
    if span is None:
        return ""
    seconds = abs(span.total_seconds())
    loc = locale or i18n.current_locale()

    def part(value: float, unit: Literal["day", "hour", "minute"]) -> str:
        return _duration_part(value, unit, loc)

    if seconds < 3600:
        return part(max(seconds, 60), "minute") if seconds >= 60 else part(60, "minute")
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    if days == 0:
        return part(hours * 3600, "hour")
    if hours == 0 or days >= 7:
        return part(days * 86400, "day")
    return f"{part(days * 86400, 'day')} {part(hours * 3600, 'hour')}"


def file_size(size: int) -> str:
    loc = i18n.current_locale()
    if size < 1024:
        return str(format_unit(size, "digital-byte", length="long", locale=loc))
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(size / 1024), locale=loc))
    return _("%(n)s MB", n=format_decimal(round(size / 1024 / 1024, 1), locale=loc))


def fmt_date(value: date | None) -> str:
    return str(format_date(value, format="medium", locale=i18n.current_locale())) if value else ""


def timeline_label(entry: TimelineEntry) -> str:
    """What happened, in words: the action when it is known, else the kind of entry."""
    if entry.action and entry.action in TIMELINE_ACTION_LABELS:
        return str(TIMELINE_ACTION_LABELS[entry.action])
    return _label(TIMELINE_LABELS, entry.kind)


def referral_target(referral: Referral) -> str:
    """To whom a case was referred, in words: "Police: Prato police HQ", "Embassy or consulate:
    Embassy of China in Italy"."""
    kind = _label(REFERRAL_TARGET_LABELS, referral.target)
    name = referral.mission.name if referral.mission is not None else referral.target_name
    return _("%(kind)s: %(name)s", kind=kind, name=name) if name else kind


def timeline_change(entry: TimelineEntry) -> str:
    """The change an entry made, when there is one to show: "New → Triaged", "P3 → P1"."""
    detail = entry.detail or {}
    parts: list[str] = []
    if entry.to_status and entry.from_status and entry.from_status != entry.to_status:
        parts.append(_("%(before)s → %(after)s", before=_label(STATUS_SHORT, entry.from_status),
                       after=_label(STATUS_SHORT, entry.to_status)))
    if entry.kind == TimelineKind.priority and detail.get("to"):
        parts.append(_("%(before)s → %(after)s", before=detail.get("from", "—"), after=detail["to"]))
    elif entry.action == "triage" and detail.get("priority"):
        parts.append(str(detail["priority"]))
    if detail.get("outcome"):
        parts.append(_label(OUTCOME_LABELS, detail["outcome"]))
    return " · ".join(parts)


DUPLICATE_REASONS = {
    "id_number": _l("Same passport or ID number"),
    "phone": _l("Same phone number"),
    "name_birth_date": _l("Same name and date of birth"),
    "name_country": _l("Same name, in the same country"),
}


duplicate_reason = i18n.label_lookup(DUPLICATE_REASONS)


DUPLICATE_STATE_LABELS = {
    DuplicateState.open: _l("Not compared yet"),
    DuplicateState.same: _l("Compared: the same"),
    DuplicateState.different: _l("Compared: not the same"),
}


@bp.app_template_filter("duplicate_reason_label")
def _duplicate_reason_label(reason: str) -> str:
    return duplicate_reason(reason)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    # Run once per rendered page: the labels are remembered for that page only (its locale).
    locale = i18n.current_locale()
    return {
        "status_label": _memo_label(STATUS_LABELS),
        "status_short": _memo_label(STATUS_SHORT),
        "category_label": _memo_label(CATEGORY_LABELS),
        "priority_label": _memo_label(PRIORITY_LABELS),
        "kind_label": _memo_label(KIND_LABELS),
        "channel_label": _memo_label(CHANNEL_LABELS),
        "outcome_label": _memo_label(OUTCOME_LABELS),
        "gender_label": _memo_label(GENDER_LABELS),
        "person_role_label": _memo_label(PERSON_ROLE_LABELS),
        "id_kind_label": _memo_label(ID_KIND_LABELS),
        "assignment_label": _memo_label(ASSIGNMENT_LABELS),
        "referral_target_label": _memo_label(REFERRAL_TARGET_LABELS),
        "referral_status_label": _memo_label(REFERRAL_STATUS_LABELS),
        "timeline_label": timeline_label,
        "notification_text": ops.notification_text,
        "timeline_change": timeline_change,
        "duplicate_reason": duplicate_reason,
        "duplicate_state_label": _memo_label(DUPLICATE_STATE_LABELS),
        "duration": lambda span: duration(span, locale),
        "file_size": file_size,
        "fmt_date": fmt_date,
    }


# --- the cells of a list of cases, worked out in Python ---------------------------------------


class CaseCells:
    """The cells a list of cases shows, as the case macros (``cases/_macros.html``) write them,
    made in Python for a whole page at once: each label, badge and country name is translated once
    per page (a page shows the same few on every row), not once per cell through a macro call."""

    def __init__(self) -> None:
        self.locale = i18n.current_locale()
        self.locale_tag = str(self.locale)
        self.language = self.locale.language
        self._priority: dict[Any, Markup] = {}
        self._status: dict[Any, Markup] = {}
        self._category = _memo_label(CATEGORY_LABELS)
        self._priority_label = _memo_label(PRIORITY_LABELS)
        self._status_label = _memo_label(STATUS_LABELS)
        self._status_short = _memo_label(STATUS_SHORT)
        self._countries: dict[str | None, str] = {}
        self._duplicates: dict[int, Markup] = {}
        # Escaped, then filled in with escaped values (as the templates' gettext fills them in).
        self._in_the_city = escape(_("In the city"))
        self._overdue_by = escape(_("overdue by %(span)s"))
        self._left = escape(_("%(span)s left"))
        self._resembles = escape(_("Resembles another case: compare them on the case page"))

    def text(self, value: object) -> Markup:
        """A record's text with its language marked (the ``in_lang`` filter)."""
        return in_lang(value, self.language)

    def place(self, name: str | None, name_en: str | None, names: Mapping[str, str] | None) -> Markup:
        """A point's or station's name in the reader's language (the ``place`` filter); "" for none."""
        if name is None:
            return Markup("")
        return in_lang(name_in(name, name_en or "", names, self.locale_tag), self.language)

    def country(self, code: str | None) -> str:
        try:
            return self._countries[code]
        except KeyError:
            text = self._countries[code] = i18n.country_name(code, self.locale)
            return text

    def category(self, value: Any) -> str:
        return self._category(value)

    def priority_badge(self, priority: Any) -> Markup:
        """``priority_badge`` of the case macros."""
        try:
            return self._priority[priority]
        except KeyError:
            label = self._priority_label(priority)
            badge = self._priority[priority] = Markup(
                '<span class="badge badge-{0}" title="{1}">{0}<span class="visually-hidden"> {1}'
                "</span></span>").format(str(priority), label)
            return badge

    def status_badge(self, status: Any) -> Markup:
        """``status_badge`` of the case macros."""
        try:
            return self._status[status]
        except KeyError:
            badge = self._status[status] = Markup(
                '<span class="badge status-badge status-{}" title="{}">{}</span>').format(
                str(status), self._status_label(status), self._status_short(status))
            return badge

    def duration(self, span: timedelta) -> str:
        return duration(span, self.locale)

    def time_left_badge(self, left: timedelta | None) -> Markup:
        """``time_left_badge`` of the case macros."""
        if left is None:
            return Markup('<span class="text-body-secondary">—</span>\n')
        if left.total_seconds() < 0:
            return Markup('<span class="overdue text-nowrap" data-testid="overdue">{}</span>\n').format(
                self._overdue_by % {"span": self.duration(left)})
        return Markup('<span class="text-nowrap">{}</span>').format(
            self._left % {"span": self.duration(left)})

    def duplicate_badge(self, count: int) -> Markup:
        """The queue's badge of a case's possible duplicates no coordinator has compared yet."""
        if not count:
            return Markup("")
        try:
            return self._duplicates[count]
        except KeyError:
            badge = self._duplicates[count] = Markup(
                ' <span class="badge text-bg-warning" data-testid="duplicate-badge" title="{}">{}</span>'
            ).format(self._resembles, ngettext("%(num)s possible duplicate",
                                               "%(num)s possible duplicates", count))
            return badge

    def where(self, kind: Any, division: str | None, city: str, country_code: str | None) -> Markup:
        """``where`` of the case macros: "In the city · 测试镇 · …" or "Italy · Prato"."""
        if kind == "domestic":
            out = self._in_the_city
            if division is not None:
                out += Markup(" · ") + self.text(division)
            if city:
                out += Markup(" · {}").format(city)
            return out
        out = Markup("{}").format(self.country(country_code))
        if city:
            out += Markup(" · {}").format(city)
        return out


def option_tags(choices: Iterable[tuple[object, str]], value: object) -> Markup:
    """The ``option`` macro of _macros.html for each (key, text) of ``choices``, in one go: the
    one whose key is ``value`` (a query's value is text) is selected."""
    chosen = None if value is None else str(value)
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            key, Markup(" selected") if chosen is not None and str(key) == chosen else "", text)
        for key, text in choices)


# --- navigation entries and the bell (every page) ------------------------------------------------


@dataclass(frozen=True)
class CaseNavItem:
    label: str
    url: str
    prefix: str


def case_nav_items(user: User | None) -> list[CaseNavItem]:
    if user is None or not can_see_cases(user):
        return []
    log = CaseNavItem(str(_l("Log a case")), url_for("cases.new_case"), "cases.new_case")
    if user.role == Role.coordinator:
        return [CaseNavItem(str(_l("Triage queue")), url_for("cases.queue"), "cases.queue"), log]
    if user.role == Role.liaison_officer:
        return [log, CaseNavItem(str(_l("My cases")), url_for("cases.mine"), "cases.mine")]
    return [CaseNavItem(str(_l("Inbox")), url_for("cases.inbox"), "cases.inbox"), log]


def case_unread_count(user: User | None) -> int | None:
    """The bell's figure; None hides the bell (no case access)."""
    if user is None or not can_see_cases(user):
        return None
    kept = kept_unread_count(user)  # read with the session's user
    if kept is not None:
        return kept
    try:
        return ops.unread_count(user)
    except SQLAlchemyError:  # an error page must still render when the database is the error
        return None


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"case_nav_items": case_nav_items, "case_unread_count": case_unread_count}


@dataclass(frozen=True)
class DuplicateEvent:
    """A possible duplicate found or decided, shown among a coordinator's timeline entries."""

    id: str
    at: datetime
    actor: User | None
    action: str
    other_case: Case
    reasons: tuple[str, ...] = ()
    text: str | None = None
    kind: str = TimelineKind.link.value
    detail: dict[str, Any] = field(default_factory=dict)
    from_status: str | None = None
    to_status: str | None = None


def duplicate_events(case: Case, links: Iterable[PossibleDuplicate]) -> list[DuplicateEvent]:
    events: list[DuplicateEvent] = []
    for link in links:
        other = link.other(case.id)
        events.append(DuplicateEvent(f"d{link.id}", link.found_at, link.found_by, "possible_duplicate",
                                     other, tuple(link.reason_list)))
        if link.decided_at is not None:
            events.append(DuplicateEvent(f"d{link.id}-{link.state.value}", link.decided_at,
                                         link.decided_by, f"duplicate_{link.state.value}", other,
                                         text=link.note))
    return events


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def _local_input(value: datetime | None, zone: str | None) -> str:
    """A moment as a datetime-local input shows it: in the case's zone, else the office's (the
    zone the operations read it back in)."""
    if value is None:
        return ""
    office = current_settings().office_timezone
    return value.astimezone(ZoneInfo(zone or office)).strftime("%Y-%m-%dT%H:%M")
