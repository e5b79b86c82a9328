"""What every page needs to be read by a screen reader: the field attributes that say a field is wrong
and why, the list of a failed form's problems, chart names that point at their table, and the
language of a record's text when it is not the page's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup, escape

from i18n import current_locale

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def error_id(field: Any) -> str:
    return f"{field.id}-error"


def help_id(field: Any) -> str:
    return f"{field.id}-help"


def field_attrs(field: Any, help_text: object = None) -> dict[str, str]:
    """``aria-invalid`` and ``aria-describedby`` of a field: its errors, then its help text (when
    the page shows one)."""
    attrs: dict[str, str] = {}
    described = []
    if field.errors:
        attrs["aria-invalid"] = "true"
        # One element per message (the macros write them so): the first is ``<id>-error``.
        described += [error_id(field)] + [f"{error_id(field)}-{n}" for n in range(2, len(field.errors) + 1)]
    if help_text:
        described.append(help_id(field))
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return attrs


def _anchor(field: Any) -> str:
    """Where a link to the field lands: the field, or a radio group's first choice."""
    if field.type == "RadioField":
        return f"{field.id}-0"
    return str(field.id)


def _problems(fields: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    for field in fields:
        if field.type in ("CSRFTokenField", "HiddenField"):
            continue
        # A list's or sub-form's own ``errors`` are those of its last validation: a view may mark
        # a field of an entry afterwards (one name at least), so every entry is looked at.
        if field.type in ("FieldList", "FormField"):
            own = [str(m) for m in field.errors if not isinstance(m, dict | list | tuple)]
            if own and field.type == "FieldList" and len(field):
                first = next(iter(field))
                inner_first = next(iter(first)) if first.type == "FormField" else first
                yield _anchor(inner_first), prefix + str(field.label.text), own[0]
            entries = field if field.type == "FieldList" else [field]
            for n, entry in enumerate(entries, 1):
                inner = entry if entry.type == "FormField" else [entry]
                head = f"{field.label.text} {n} · " if field.type == "FieldList" else ""
                yield from _problems(inner, prefix + head)
            continue
        if not field.errors:
            continue
        messages = [str(m) for m in field.errors if not isinstance(m, dict | list | tuple)]
        if messages:
            yield _anchor(field), prefix + str(field.label.text), messages[0]


def form_problems(*forms: Any) -> list[tuple[str, str, str]]:
    """(anchor, label, first message) of each invalid field of the forms, in the forms' order."""
    found: list[tuple[str, str, str]] = []
    for form in forms:
        if form is not None:
            found += _problems(form)
    return found


def chart_name(chart: str, table: str) -> str:
    """A chart's accessible name: what it shows and where its numbers are to be read."""
    return _("%(chart)s (chart; the figures are in the table “%(table)s”)", chart=chart, table=table)


def text_lang(value: object, page_language: str | None = None) -> str | None:
    """The language tag of a record's text when it differs from the page's, else None: Chinese text
    on an English page, Latin-script text (a passport spelling, a foreign place) on a Chinese one.
    ``page_language``: the page's language (``zh``, ``en``), when the caller has it at hand."""
    text = str(value or "")
    chinese_page = (page_language or current_locale().language) == "zh"
    if HAN.search(text):
        return None if chinese_page else "zh-Hans"
    if chinese_page and LATIN.search(text):
        return "en"
    return None


def in_lang(value: object, page_language: str | None = None) -> Markup:
    """A record's text, in a span carrying its language when that is not the page's
    (``page_language``: as for ``text_lang``)."""
    lang = text_lang(value, page_language)
    if value is None:
        return Markup("")
    if lang is None:
        return escape(value)
    return Markup('<span lang="{}">{}</span>').format(lang, value)
