"""Marshmallow schemas of the registry API: what it answers (``RegistrantOut`` dumps every answer),
and the shapes of its query string and bodies, for the OpenAPI document (``consular.api_docs``).

The bodies are checked by ``consular.registry.operations``, the same checks as the pages' forms and
the CSV import (a mobile number in the person's country, an alert language, a time zone of the
country, the caller's scope); the schemas here describe those values rather than load them, so
the rules live in one place.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

import i18n
from consular.api_fields import Choice, Country, Int, Page, Text, _n
from consular.cases.schemas import PlaceRef
from consular.registry.languages import SMS_LOCALES
from consular.registry.models import ConsentMethod, ContactChannel, RegistrantKind, RegistrantStatus
from consular.registry.operations import END_REASONS, MAX, RECORDED_CONSENT

LANGUAGE_HELP = {"description": "An alert language (" + ", ".join(SMS_LOCALES) + "); a tag such as "
                                "`zh-CN` or a language's name is read as one of them."}
DAY_HELP = {"format": "date", "description": "A day, 2025-09-30 (or 2025年9月30日); null or empty: none."}


def _day() -> fields.Field:
    return _n(fields.String(metadata=DAY_HELP))


def _place_id() -> fields.Field:
    return _n(Int(metadata={"description": "Active, and in the caller's scope (an officer's own "
                                           "point, a volunteer's own station)."}))


# --- query string and bodies ------------------------------------------------------------------


class RegistrantListQuery(Schema):
    """The list's filters (read by ``consular.registry.api``; a bad value answers 400 naming it)."""

    q = fields.String(metadata={"description": "Search: the whole name in any script, or the "
                                               "phone number (exact). Longer than 100: cut."})
    country = Country()
    language = Choice(SMS_LOCALES)
    status = Choice(RegistrantStatus)
    kind = Choice(RegistrantKind)
    liaison_point_id = Int()
    station_id = Int()
    current = Choice(["true", "false", "all"], metadata={
        "description": "`true` (default): current registrations; `false`: ended ones; `all`."})
    batch = fields.String(metadata={"description": "Only the registrations of one CSV import."})
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class _RegistrantFields(Schema):
    name = Text(MAX["name"], nonblank=True)
    phone = Text(MAX["phone_input"], nonblank=True, metadata={
        "description": "A mobile number: international (+39 …) or local to `country_code`."})
    kind = Choice(RegistrantKind)
    language = Text(40, nonblank=True, metadata=LANGUAGE_HELP)
    country_code = Country()
    city = Text(MAX["city"], metadata={"description": "The time zone is derived from it."})
    timezone = _n(fields.String(metadata={
        "description": "IANA zone of the country (Europe/Rome); empty: derived from the city."}))
    liaison_point_id = _place_id()
    station_id = _place_id()
    stay_from = _day()
    stay_until = _day()
    channels = fields.List(Choice(ContactChannel), metadata={
        "description": "The channels in the order they are tried, each once (default `[\"sms\"]`); "
                       "alerts go on the first one the person agreed to."})
    whatsapp_consent = fields.Boolean(metadata={"description": "Agreed to alerts on WhatsApp."})
    voice_consent = fields.Boolean(metadata={"description": "Agreed to alerts by voice call."})


class ConsentIn(Schema):
    method = Choice(RECORDED_CONSENT)
    at = fields.String(metadata={"description": "When it was given (ISO date and time; without a "
                                                "zone: the office's time). Default: now."})
    note = Text(MAX["consent_note"])


class RegistrantCreateIn(_RegistrantFields):
    """A new registration. Officers register for their point, volunteers for their station (and in
    its country unless another is given)."""

    name = Text(MAX["name"], required=True)
    phone = Text(MAX["phone_input"], required=True, metadata={
        "description": "A mobile number: international (+39 …) or local to `country_code`; one "
                       "current registration per number."})
    consent_method = Choice(RECORDED_CONSENT, metadata={"description": "How the person agreed "
                                                                       "(required, here or in "
                                                                       "`consent`)."})
    consent_at = fields.String(metadata={"description": "When (ISO; default now)."})
    consent_note = Text(MAX["consent_note"])
    consent = fields.Nested(ConsentIn, metadata={"description": "The same three, as one object."})


class RegistrantUpdateIn(_RegistrantFields):
    """Only the fields sent change; a new number is checked like a new registration's."""


class RegistrantStatusIn(Schema):
    status = Choice(RegistrantStatus, required=True)
    consent_method = _n(Choice(RECORDED_CONSENT, metadata={
        "description": "Required to make someone who opted out active again."}))
    consent_note = _n(Text(MAX["consent_note"]))


class RegistrantEndIn(Schema):
    reason = Choice(END_REASONS, required=True)


# --- answers ----------------------------------------------------------------------------------


class Own(fields.Nested):
    """A nested object made of the parent's own attributes (``consent_at`` answers as
    ``consent.at``)."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
        return obj


class ConsentOut(Schema):
    at = _n(fields.DateTime(required=True, attribute="consent_at"))
    method = Choice(ConsentMethod, required=True, attribute="consent_method")
    by_id = _n(fields.Integer(required=True, attribute="consent_by_id",
                              metadata={"description": "Who recorded it."}))
    note = _n(fields.String(required=True, attribute="consent_note"))


def _or_none(name: str) -> Any:
    return lambda r: getattr(r, name) or None


class RegistrantOut(Schema):
    """One registration as the API answers it (every read, and every write's answer)."""

    id = fields.Integer(required=True)
    name = _n(fields.String(required=True, metadata={"description": "null once erased."}))
    phone = fields.Function(_or_none("phone"), required=True, allow_none=True, metadata={
        "type": "string", "description": "E.164; null once erased."})
    kind = Choice(RegistrantKind, required=True)
    language = fields.String(required=True)
    country_code = fields.String(required=True)
    country_name = fields.Function(lambda r: i18n.country_name(r.country_code), required=True,
                                   metadata={"type": "string", "description": "In the caller's "
                                                                              "language."})
    city = fields.String(required=True)
    timezone = fields.String(required=True)
    liaison_point = _n(fields.Nested(PlaceRef, required=True))
    station = _n(fields.Nested(PlaceRef, required=True))
    stay_from = _n(fields.Date(required=True))
    stay_until = _n(fields.Date(required=True))
    consent = Own(ConsentOut, required=True)
    channels = fields.Function(lambda r: [c.value for c in r.channel_list], required=True, metadata={
        "type": "array", "items": {"type": "string", "enum": [c.value for c in ContactChannel]},
        "description": "In the order they are tried."})
    whatsapp_consent_at = _n(fields.DateTime(required=True))
    voice_consent_at = _n(fields.DateTime(required=True))
    status = Choice(RegistrantStatus, required=True)
    status_changed_at = _n(fields.DateTime(required=True))
    status_reason = _n(fields.String(required=True))
    current = fields.Function(lambda r: r.ended_at is None, required=True,
                              metadata={"type": "boolean", "description": "Not ended."})
    ended_at = _n(fields.DateTime(required=True))
    ended_reason = fields.Function(_or_none("ended_reason"), required=True, allow_none=True,
                                   metadata={"type": "string", "enum": [*END_REASONS, "retention", None],
                                             "description": "`retention`: erased by the retention "
                                                            "job."})
    erased_at = _n(fields.DateTime(required=True))
    legal_hold = fields.Boolean(required=True)
    import_batch = _n(fields.String(required=True))
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class RegistrantPage(Page):
    items = fields.List(fields.Nested(RegistrantOut), required=True)
