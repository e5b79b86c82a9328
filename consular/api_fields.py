"""Strict marshmallow fields every JSON API's schemas use (cases, registry, activities), and their
messages in the caller's language.

Loading checks shapes only: types (no ``"1"`` for a number, no ``1`` for ``true``), lengths, lists,
choices, and characters a database cannot store (control characters, lone surrogates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from marshmallow import Schema, ValidationError, fields

import i18n
from consular.api_docs import register_component
from consular.db import MAX_ID
from consular.validation import PlainTextSchema, text_pattern, too_long_message

# The characters any text may hold: one rule for every package (``consular.validation``).
TEXT_PATTERN = text_pattern()


# --- strict fields with messages in the caller's language ---------------------------------------


class Text(fields.String):
    """A string of at most ``max_length`` characters without control characters other than tab
    and line breaks (a one-line field folds those into spaces); ``required`` (or ``nonblank`` for
    an optional field) also means not blank."""

    def __init__(self, max_length: int, *, nonblank: bool = False, **kwargs: Any) -> None:
        self.max_length = max_length
        self.nonblank = nonblank or bool(kwargs.get("required"))
        self.plain_text = PlainTextSchema()
        metadata = {"maxLength": max_length, "pattern": TEXT_PATTERN, **kwargs.pop("metadata", {})}
        if self.nonblank:
            metadata.setdefault("minLength", 1)
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(_("Must be text."))
        self.plain_text(value)
        if len(value) > self.max_length:
            raise ValidationError(too_long_message(self.max_length))
        if self.nonblank and not value.strip():
            raise ValidationError(_("Required."))
        return value


COUNTRY_CODES = sorted(code for code, _name in i18n.country_choices("en"))
_COUNTRY_ENUM = [*COUNTRY_CODES, *(c.lower() for c in COUNTRY_CODES)]
COUNTRY_REF = register_component("CountryCode", {
    "type": "string", "enum": _COUNTRY_ENUM,
    "description": "ISO 3166-1 alpha-2 country code, e.g. IT (either case)."})
NULLABLE_COUNTRY_REF = register_component("CountryCodeOrNull", {
    "type": "string", "nullable": True, "enum": [*_COUNTRY_ENUM, None],
    "description": "ISO 3166-1 alpha-2 country code, e.g. IT (either case), or null."})


class Country(fields.Raw):
    """A two-letter ISO country code, in either case (loaded as given: the operations upper-case
    it); with ``nullable``, null too. The document's schema is the ``CountryCode`` component (a
    ``Raw`` field adds no type of its own beside it)."""

    def __init__(self, *, nullable: bool = False, **kwargs: Any) -> None:
        self.nullable = nullable
        ref = NULLABLE_COUNTRY_REF if nullable else COUNTRY_REF
        super().__init__(metadata={**ref, **kwargs.pop("metadata", {})}, **kwargs)

    def deserialize(self, value: Any, attr: str | None = None,
                    data: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        if value is None and self.nullable:
            return None
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or value.upper() not in COUNTRY_CODES or not value.isalpha():
            raise ValidationError(_("Not a country code. Use the two-letter ISO code, for example "
                                    "IT."))
        return value


class Choice(fields.String):
    """One value of a ``StrEnum`` (loaded as its plain string value)."""

    def __init__(self, enum: type[StrEnum] | Iterable[str], **kwargs: Any) -> None:
        self.choices = [str(getattr(v, "value", v)) for v in enum]
        listed: list[str | None] = [*self.choices, *([None] if kwargs.get("allow_none") else [])]
        super().__init__(metadata={"enum": listed, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ValidationError(_("Choose one of: %(choices)s.", choices=", ".join(self.choices)))
        return value


class Int(fields.Integer):
    """A JSON integer (not a string, a float or a boolean) within ``minimum``…``maximum``."""

    def __init__(self, minimum: int = 1, maximum: int = MAX_ID, **kwargs: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(strict=True, metadata={"minimum": minimum, "maximum": maximum,
                                                **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(_("Must be a whole number."))
        if not self.minimum <= value <= self.maximum:
            raise ValidationError(_("A whole number from %(low)d to %(high)d.",
                                    low=self.minimum, high=self.maximum))
        return value


class Bool(fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(_("Must be true or false."))
        return value


class Items(fields.List):
    """A JSON array of at most ``max_items`` (and at least ``min_items``) entries."""

    def __init__(self, inner: fields.Field, *, max_items: int, min_items: int = 0,
                 **kwargs: Any) -> None:
        self.min_items, self.max_items = min_items, max_items
        metadata = {"maxItems": max_items, **kwargs.pop("metadata", {})}
        if min_items:
            metadata["minItems"] = min_items
        super().__init__(inner, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError(_("Must be a list."))
        if len(value) > self.max_items:
            raise ValidationError(ngettext("At most %(num)d entry.", "At most %(num)d entries.",
                                           self.max_items))
        if len(value) < self.min_items:
            raise ValidationError(ngettext("At least %(num)d entry.", "At least %(num)d entries.",
                                           self.min_items))
        return list(super()._deserialize(value, attr, data, **kwargs))


# --- a list's answer ----------------------------------------------------------------------------


class Page(Schema):
    """The answer of every list: a page of ``items`` (each list's subclass names their schema), how
    many there are in all, and the ``limit`` and ``offset`` the page was asked for."""

    items = fields.List(fields.Raw(), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


def page_of(item: type[Schema], name: str = "") -> type[Page]:
    """The answer of a list of ``item``: a ``Page`` whose ``items`` are ``item``, named ``name`` in
    the document (by default ``item``'s name with ``Page`` for ``Out``: ``RiskOut`` → ``RiskPage``)."""
    return type(name or item.__name__.removesuffix("Out") + "Page", (Page,), {
        "items": fields.List(fields.Nested(item), required=True), "__module__": item.__module__})


# --- messages ---------------------------------------------------------------------------------


def _marshmallow_message(message: str) -> str:
    known = {
        "Missing data for required field.": _("Required."),
        "Field may not be null.": _("Required."),
        "Unknown field.": _("Unknown field."),
        "Invalid input type.": _("Must be a JSON object."),
        "Not a valid string.": _("Must be text."),
        "Not a valid integer.": _("Must be a whole number."),
        "Not a valid boolean.": _("Must be true or false."),
        "Not a valid list.": _("Must be a list."),
        "Not a valid mapping type.": _("Must be a JSON object."),
    }
    return known.get(message, message)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested messages → ``{"persons.0.phone": "…"}`` (one message per field)."""
    out: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "body"
            out.update(flatten_errors(value, name))
    elif isinstance(messages, list | tuple):
        if messages and all(isinstance(m, str) for m in messages):
            out[prefix or "body"] = _marshmallow_message(str(messages[0]))
        else:
            for item in messages:
                out.update(flatten_errors(item, prefix))
    else:
        out[prefix or "body"] = _marshmallow_message(str(messages))
    return out




def _n(field: fields.Field) -> fields.Field:
    """Nullable (a field the API may answer with null); OpenAPI 3.0 wants null among the choices
    of a nullable enum too."""
    field.allow_none = True
    if "enum" in field.metadata:
        field.metadata = {**field.metadata, "enum": [*field.metadata["enum"], None]}
    return field
