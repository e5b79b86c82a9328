"""Placeholders in alert and template texts: ``{place}``, ``{time}``, ``{mission_phone}``,
``{station}`` and ``{hotline}``. A text keeps them as written; each is filled when a message is
rendered, for its recipient: the place of the event in the recipient's language where the city
index knows it, the time of the event in the recipient's language and time zone, and the mission,
nearest service station and hotline of the recipient's country and city (as a HELP answer gives
them). The checks here refuse an unknown placeholder, and one that a language uses and another
does not."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

import i18n

PLACEHOLDERS = ("place", "time", "mission_phone", "station", "hotline")
LABELS = {
    "place": _l("the place of the event"),
    "time": _l("the time of the event, in the recipient's time zone"),
    "mission_phone": _l("the emergency phone of the mission in the recipient's country"),
    "station": _l("the recipient's nearest service station and its phone"),
    "hotline": _l("the centre's 24-hour hotline"),
}
# What a reader would take for a placeholder: a word in braces.
_TOKEN = re.compile(r"\{([^{}\n]{1,40})\}")
TEXT_PARTS = ("headline", "body", "instruction")
# Filled from where each recipient is (their country, city and station).
BY_PLACE = frozenset({"mission_phone", "station", "hotline"})


def tokens(text: str) -> list[str]:
    """The names in braces in ``text``, in order, known or not."""
    return [m.group(1).strip() for m in _TOKEN.finditer(text or "")]


def used(fields: Mapping[str, str]) -> set[str]:
    """The known placeholders one language's text uses (headline, message and instruction)."""
    return {name for part in TEXT_PARTS for name in tokens(fields.get(part, "") or "")
            if name in PLACEHOLDERS}


def used_anywhere(texts: Mapping[str, Mapping[str, str]]) -> set[str]:
    out: set[str] = set()
    for fields in texts.values():
        out |= used(fields)
    return out


def known_list() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def check(texts: Mapping[str, Mapping[str, str]], base_language: str) -> dict[str, str]:
    """Per field, what is wrong with the placeholders of these texts: a name that is not a
    placeholder, or a placeholder that one language uses and another lacks (measured against the
    base language, whose text every recipient without their own falls back on)."""
    errors: dict[str, str] = {}
    for lang, fields in texts.items():
        for part in TEXT_PARTS:
            unknown = [name for name in tokens(fields.get(part, "") or "") if name not in PLACEHOLDERS]
            if unknown:
                errors[f"texts.{lang}.{part}"] = _(
                    "“{%(name)s}” is not a placeholder. Use one of: %(known)s.",
                    name=unknown[0], known=known_list())
    base = texts.get(base_language)
    if base is None:
        return errors
    expected = used(base)
    for lang, fields in texts.items():
        if lang == base_language or f"texts.{lang}.body" in errors:
            continue
        mine = used(fields)
        missing = sorted(expected - mine, key=PLACEHOLDERS.index)
        extra = sorted(mine - expected, key=PLACEHOLDERS.index)
        if missing:
            errors[f"texts.{lang}.body"] = _(
                "The text in %(language)s lacks {%(name)s}, which the text in %(base)s uses. Put it "
                "where it belongs in this language.", language=i18n.language_name(lang),
                name=missing[0], base=i18n.language_name(base_language))
        elif extra:
            errors[f"texts.{lang}.body"] = _(
                "The text in %(language)s uses {%(name)s}, which the text in %(base)s does not. Use "
                "the same placeholders in every language.", language=i18n.language_name(lang),
                name=extra[0], base=i18n.language_name(base_language))
    return errors


# --- filling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """What fills each placeholder for one recipient (or one typical recipient)."""

    place: str = ""
    time: str = ""
    mission_phone: str = ""
    station: str = ""
    hotline: str = ""

    def get(self, name: str) -> str:
        value = str(getattr(self, name, ""))
        # A number we do not have falls back on the other one: a message never says "call ".
        if not value and name == "mission_phone":
            value = self.hotline
        elif not value and name == "hotline":
            value = self.mission_phone
        return value


def fill(text: str, values: Values) -> str:
    """``text`` with each known placeholder replaced (unknown ones, refused on saving, are kept)."""
    if "{" not in text:
        return text
    return _TOKEN.sub(lambda m: values.get(m.group(1).strip()) if m.group(1).strip() in PLACEHOLDERS
                      else m.group(0), text)


def fill_fields(fields: Mapping[str, str], values: Values) -> dict[str, str]:
    return {key: fill(value, values) if key in TEXT_PARTS and isinstance(value, str) else value
            for key, value in fields.items()}


def _chinese(locale: str) -> bool:
    return locale in ("zh_Hans", "zh_Hant")


def place_in(place: str, locale: str) -> str:
    """The place in the reader's script where the city list knows both spellings: 普拉托 for a
    Chinese reader of "Prato", "Prato" for the others when the coordinator typed 普拉托 (a Chinese
    name in a Latin-script SMS would also double its price)."""
    from consular.registry.places import CITY_ALIASES

    value = place.strip()
    if not value:
        return ""
    for aliases in CITY_ALIASES.values():
        for chinese, latin in aliases.items():
            if _chinese(locale) and value.casefold() == latin.casefold():
                return chinese
            if not _chinese(locale) and value == chinese:
                return latin
    return value


def with_place(text: str, place: str, locale: str) -> str:
    """``text`` with its {place} filled (for pages that name an alert by its headline)."""
    return fill(text, Values(place=place_in(place, locale))) if place and "{" in text else text


def values_for(*, locale: str, tz_name: str | None, place: str, event_time: datetime | None,
               country_code: str | None, city: str, station_id: int | None = None,
               wanted: Iterable[str] = PLACEHOLDERS) -> Values:
    """The values for a recipient in ``locale`` and zone ``tz_name`` who lives in ``city``,
    ``country_code`` (registered with ``station_id``); only ``wanted`` ones are looked up."""
    from alerts.channels.sms.texts import format_when
    from alerts.replies.inbound import help_contacts

    wanted = set(wanted)
    contacts = None
    if wanted & {"mission_phone", "station", "hotline"}:
        contacts = help_contacts(country_code, city or "", locale, station_id)
    station = ""
    if contacts is not None and contacts.station_name:
        station = contacts.station_name + (f" {contacts.station_phone}" if contacts.station_phone else "")
    return Values(
        place=place_in(place, locale) if "place" in wanted else "",
        time=format_when(event_time, locale, tz_name) if event_time is not None and "time" in wanted
        else "",
        mission_phone=(contacts.mission_phone or "") if contacts is not None else "",
        station=station,
        hotline=(contacts.hotline or "") if contacts is not None else "",
    )


def recipient_text(text: Any, alert: Any, *, locale: str, tz_name: str | None,
                   recipient: tuple[str, str, int | None] | None) -> dict[str, str]:
    """An alert text's headline, message and instruction with the placeholders filled for one
    recipient in ``locale`` and zone ``tz_name``: ``recipient`` is their (country, city, station);
    None, someone of no known place."""
    fields = {"headline": text.headline, "body": text.body, "instruction": text.instruction or ""}
    wanted = used(fields)
    if not wanted:
        return fields
    country, city, station_id = recipient if recipient is not None else (None, "", None)
    return fill_fields(fields, values_for(
        locale=locale, tz_name=tz_name, place=alert.place, event_time=alert.event_time,
        country_code=country, city=city, station_id=station_id, wanted=wanted))


def public_text(alert: Any, text: Any) -> dict[str, str]:
    """An alert text's headline, message and instruction as a CAP file or feed shows them: the
    placeholders filled as for someone in the alert's first area, the time in the office's zone
    (a public document has no single recipient)."""
    from alerts.authoring.recurrence import office_zone_name

    fields = {"headline": text.headline, "body": text.body, "instruction": text.instruction or ""}
    wanted = used(fields)
    if not wanted:
        return fields
    first = alert.areas[0] if alert.areas else None
    return fill_fields(fields, values_for(
        locale=text.language, tz_name=office_zone_name(), place=alert.place,
        event_time=alert.event_time, country_code=first.country_code if first else None,
        city=first.city if first else "", wanted=wanted))


def marked(text: str) -> Markup:
    """``text`` for a page, each placeholder set apart as code (``{mission_phone}`` is a slot the
    dispatcher fills, not words of the text)."""
    parts: list[Markup] = []
    last = 0
    for match in _TOKEN.finditer(text):
        parts.append(escape(text[last:match.start()]))
        parts.append(Markup("<code>{}</code>").format(match.group(0)))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)
