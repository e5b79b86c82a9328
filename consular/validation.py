"""One rule for the text people type, in every package: which characters a field may hold, checked
the same way by the pages' forms (WTForms), the API's schemas (marshmallow) and the operations, each
refusing with the same message in the user's language.

The rule: no control characters (C0, DEL, C1) except tab and line breaks, which a multi-line field
keeps and a one-line field folds into one space (a paste from a spreadsheet or a message is what
the person meant); no bidirectional embeddings, overrides or isolates (U+202A–202E, U+2066–2069:
they reorder what a reader sees, so ``invoice<U+202E>gnp.exe`` reads as ``invoiceexe.png``); no lone
surrogates (they cannot be stored as UTF-8). Marks a language needs (the left-to-right and
right-to-left marks of Arabic text, joiners) are letters' companions and stay allowed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from flask_babel import get_translations, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from marshmallow import ValidationError as SchemaValidationError
from marshmallow.validate import Validator
from wtforms import Form, PasswordField, SelectChoice, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.validators import ValidationError as FormValidationError

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Controls a one-line field folds into a space, and those a multi-line field keeps as they are.
ONE_LINE_FOLDED = "\t\n\r\v\f"
MULTI_LINE_KEPT = "\t\n\r"
_FOLD_RE = re.compile(f"[{ONE_LINE_FOLDED}]+")

MESSAGE = _l("Remove the control characters or text-direction overrides from this field.")


def message() -> str:
    """The refusal, in the language of the request (or of ``force_locale``)."""
    return str(MESSAGE)


def too_long_message(max_len: int) -> str:
    """The refusal of a text longer than ``max_len`` characters, in the request's language."""
    return ngettext("At most %(num)d character.", "At most %(num)d characters.", max_len)


def _refused_pattern(kept: str) -> re.Pattern[str]:
    """One character class of what the rule refuses: the controls (Unicode category Cc, a fixed
    set) but ``kept``, lone surrogates (Cs) and the text-direction controls."""
    refused = [chr(cp) for cp in (*range(0x20), *range(0x7F, 0xA0)) if chr(cp) not in kept]
    return re.compile("[" + "".join(re.escape(ch) for ch in (*refused, *sorted(BIDI_CONTROLS)))
                      + "\ud800-\udfff]")


# Compiled once: a megabyte of text is searched in C, not character by character in Python.
_REFUSED = {False: _refused_pattern(ONE_LINE_FOLDED), True: _refused_pattern(MULTI_LINE_KEPT)}


def refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` that no field may hold, or None when the text is fine."""
    found = _REFUSED[multiline].search(text)
    return found.group() if found is not None else None


def is_plain_text(text: str, *, multiline: bool = False) -> bool:
    return refused_character(text, multiline=multiline) is None


def text_refusal(value: object, *, multiline: bool = False) -> str | None:
    """The rule's refusal (in the request's language) when ``value`` is text the rule refuses;
    None otherwise (a value that is not text at all is for another check to refuse)."""
    if isinstance(value, str) and not is_plain_text(value, multiline=multiline):
        return message()
    return None


def clean_text(raw: str, *, multiline: bool = False) -> str | None:
    """Text as stored: NFC, trimmed; a one-line field's tabs and line breaks become one space, a
    multi-line field's line ends become ``\\n``. None when the rule refuses it."""
    if refused_character(raw, multiline=multiline) is not None:
        return None
    text = unicodedata.normalize("NFC", raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n") if multiline else _FOLD_RE.sub(" ", text)
    return text.strip()


def read_text(raw: object, max_len: int, *, required: bool = False,
              multiline: bool = False) -> tuple[str | None, str | None]:
    """A field's value under the one text rule: ``(text as stored, None)``, or ``(None, refusal)``
    in the request's language when it is not text, holds a refused character, is required but
    empty, or is longer than ``max_len``. None counts as empty."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        return None, _("Enter text.")
    value = clean_text(raw, multiline=multiline)
    if value is None:
        return None, message()
    if required and not value:
        return None, _("This field is required.")
    if len(value) > max_len:
        return None, too_long_message(max_len)
    return value, None


V = TypeVar("V")


def day_of(raw: object, text: Callable[[str], date | None]) -> date | None:
    """The day ``raw`` gives: a datetime's, a date itself, or what ``text`` reads in a string."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        return text(raw)
    return None


class FieldChecker:
    """The base of the domains' input checkers: ``data`` (the fields that may be given), ``out``
    (the values that passed, as stored) and ``errors`` (a message per field that did not), every
    problem collected before any is reported."""

    data: dict[str, Any]
    out: dict[str, Any]
    errors: dict[str, str]

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, message)

    def keep(self, key: str, value: V) -> V:
        """``value`` passed as ``key``'s: kept in ``out`` (as stored) and answered."""
        self.out[key] = value
        return value

    def keep_unless(self, key: str, value: V, *refusals: tuple[bool, str]) -> V | None:
        """``value`` kept as ``key``'s (``keep``) unless one of ``refusals`` (whether it is refused,
        and the message) holds: the first that holds is recorded and nothing answered."""
        for refused, message in refusals:
            if refused:
                self.fail(key, message)
                return None
        return self.keep(key, value)

    def text(self, key: str, max_len: int, *, required: bool = False,
             multiline: bool = False) -> str | None:
        """One-line by default: tabs and line breaks become spaces; what the rule refuses is refused."""
        if key not in self.data:
            return None
        value, problem = read_text(self.data[key], max_len, required=required, multiline=multiline)
        if problem is not None:
            self.fail(key, problem)
            return None
        return self.keep(key, value)


def put_errors(form: Any, errors: Mapping[str, str],
               field_of: Callable[[str], str] = lambda key: key) -> None:
    """An operation's refusals onto a page's form: each on the field ``field_of`` its key names,
    the rest above the form."""
    for key, message in errors.items():
        target = form._fields.get(field_of(key))
        if target is not None:
            target.errors = [*target.errors, message]
        else:
            form.form_errors.append(message)


def search_text(raw: object, limit: int) -> str:
    """A search box's text: what the rule refuses becomes a space (a search writes nothing, and
    such a character never belongs to a query; PostgreSQL refuses NUL in a literal), trimmed, at
    most ``limit`` characters."""
    text = raw if isinstance(raw, str) else ""
    return "".join(" " if refused_character(ch) or ch in ONE_LINE_FOLDED else ch
                   for ch in text).strip()[:limit]


def text_pattern(*, multiline: bool = False) -> str:
    """The rule as a regular expression, for the API document (lone surrogates aside: JSON Schema
    patterns cannot name them)."""
    c0 = "".join(f"\\x{n:02x}" for n in range(0x20)
                 if chr(n) not in (MULTI_LINE_KEPT if multiline else ONE_LINE_FOLDED))
    return f"^[^{c0}\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*$"


# --- the same rule for forms and schemas --------------------------------------------------------


class PlainText:
    """WTForms validator: the field's text follows the rule."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, form: Any, field: Any) -> None:
        problem = text_refusal(field.data, multiline=self.multiline)
        if problem is not None:
            raise FormValidationError(problem)


class PlainTextSchema(Validator):
    """marshmallow validator: the value's text follows the rule."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: Any) -> Any:
        problem = text_refusal(value, multiline=self.multiline)
        if problem is not None:
            raise SchemaValidationError(problem)
        return value


# WTForms' own messages that its Chinese catalog leaves untranslated (marked fuzzy there): ours.
WTFORMS_MESSAGES = (
    _l("'%(value)s' is not a valid choice for this field."),
    _l("'%(value)s' are not valid choices for this field."),
    _l("Not a valid week value."),
    _l("This field cannot be edited."),
    _l("This field is disabled and cannot have a value."),
)


class FormTranslations:
    """WTForms' messages in the reader's language, for every form and subform: WTForms' own catalog
    (through Flask-WTF), and ours for the few it leaves in English. Raw lookups: WTForms fills in
    the values itself."""

    def gettext(self, string: str) -> str:
        theirs: str = wtforms_translations.gettext(string)
        return theirs if theirs != string else get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        theirs: str = wtforms_translations.ngettext(singular, plural, n)
        if theirs not in (singular, plural):
            return theirs
        catalog = get_translations()
        ours: str = catalog.ungettext(singular, plural, n)
        if ours not in (singular, plural):
            return ours
        chosen = singular if n == 1 else plural  # ours as two entries (WTFORMS_MESSAGES)
        mine: str = catalog.ugettext(chosen)
        return mine


FORM_TRANSLATIONS = FormTranslations()


class TextRuleMeta:
    """A form ``Meta`` that gives every text field of the form the rule (a text area keeps its
    line breaks; a password is a secret that is never shown, so any character may be in it), and
    WTForms' messages in the reader's language (a subform too, which Flask-WTF does not reach)."""

    def get_translations(self, form: Any) -> FormTranslations:
        return FORM_TRANSLATIONS

    def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
        field = super().bind_field(form, unbound_field, options)  # type: ignore[misc]
        kind = unbound_field.field_class
        if issubclass(kind, StringField) and not issubclass(kind, PasswordField):
            field.validators = [*field.validators,
                                PlainText(multiline=issubclass(kind, TextAreaField))]
        return field


# A choice a form offers that the request did not make (a select's unknown or malformed value).
CHOOSE_FROM_LIST = _l("Choose an entry from the list.")


def choices_of(labels: Mapping[Any, Any], blank: Any = None) -> list[SelectChoice]:
    """A select's choices from a table of labels (keyed by enum members or plain strings), after
    an empty choice labelled ``blank`` when one is given."""
    return ([SelectChoice("", blank)] if blank is not None else []) + [
        SelectChoice(str(getattr(key, "value", key)), label) for key, label in labels.items()]


def required(max_len: int) -> list[Any]:
    """A form's text field that must be filled, with at most ``max_len`` characters."""
    return [DataRequired(), Length(max=max_len)]


def optional(max_len: int) -> list[Any]:
    """A form's text field that may stay empty, with at most ``max_len`` characters."""
    return [Optional(), Length(max=max_len)]


class CheckedForm(FlaskForm):
    """A page's form whose text fields follow the rule."""

    class Meta(TextRuleMeta):
        pass


class CheckedSubform(Form):
    """A subform (``FormField``) whose text fields follow the rule."""

    class Meta(TextRuleMeta):
        pass
