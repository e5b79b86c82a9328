"""The Chinese interface is Chinese: every page each role can open (the routes of the URL map, on the
access matrix's records) and every form's refusal, read by users whose language is zh_Hans, holds
no interface string left in English.

What counts as untranslated is exact: an English text of the catalogs (the msgids of
``i18n/messages.pot`` and of WTForms' own messages) found in the page once the records' own data is
taken out (names, references, alert texts, which are written in whatever language they were
written in), or a raw code of the program (``case.view``, ``in_progress``) shown as text. Codes,
units and brand names the Chinese interface uses as they are (SMS, CSV, API, P1, UTC) are not
catalog entries of their own, or appear inside Chinese translations, and so are never flagged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import Flask
from wtforms.i18n import messages_path

from alerts.models import Alert, AlertText
from consular.auth.models import Role, User
from consular.cases.models import Attachment, Case, Incident, Referral
from consular.db import db
from consular.network.models import CoordinationCentre, Division, LiaisonPoint, Mission, ServiceStation
from consular.registry.models import Registrant
from tests.access_policy import ANON
from tests.access_world import (
    CANARIES,
    PLACE_CANARIES,
    REGISTRANT_CANARIES,
    World,
    pages_of,
    world_once,
)
from tests.conftest import Browser

ROOT = Path(__file__).parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
# A program's code shown as text: dotted or snake_case lower-case words (case.view, in_progress).
CODE = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:[._][a-z][a-z0-9]*)+(?![\w/@-])")
LATIN = re.compile(r"[A-Za-z]")
# IANA time zones, as the zone pickers list them ("Europe/Rome", "America/New York"): names of places.
TIME_ZONE = re.compile(r"\b(?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Brazil|Canada|Chile|"
                       r"Etc|Europe|Indian|Mexico|Pacific|US)/[^\n]*")
# Attributes a reader meets (tooltips, placeholders, screen-reader labels, confirmations, the
# labels pages hand to their scripts); values, names, URLs and classes are not read.
READ_ATTRIBUTES = re.compile(
    r"^(?:title|placeholder|aria-label|alt|data-confirm|data-label-.*|data-.*-label)$", re.ASCII)
# Elements marked as raw machine data by design (an audit entry's recorded details): not read.
RAW = "data-raw"
# (A textarea holds what someone wrote, to be edited: data, like a template's {placeholders}.)
SKIPPED_TAGS = {"script", "style", "code", "pre", "kbd", "samp", "template", "textarea"}


# --- what counts as an untranslated string ------------------------------------------------------


@cache
def _chinese() -> dict[str, str]:
    with open(ROOT / "i18n/translations/zh_Hans/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh, locale="zh_Hans")
    found: dict[str, str] = {}
    for message in catalog:
        if message.id:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for msgid in ids:
                found[msgid] = " ".join(s for s in strings if s)
    return found


def _english_texts() -> Iterator[str]:
    """Every English text of the interface's catalogs: ours and WTForms' messages."""
    for path in (ROOT / "i18n/messages.pot", Path(messages_path()) / "wtforms.pot"):
        with open(path, "rb") as fh:
            for message in read_po(fh):
                if message.id:
                    yield from (message.id if isinstance(message.id, tuple) else (message.id,))


@cache
def untranslated_pattern() -> re.Pattern[str]:
    """One expression for every English text a Chinese page must not show. A text whose Chinese is
    itself (a unit, a code) or that Chinese translations contain (SMS, CSV, API) is left out."""
    chinese = _chinese()
    patterns = []
    for text in set(_english_texts()):
        # A value at either end may be anything (data): the English around it is what shows.
        parts = PLACEHOLDER.split(text)
        while parts and not LATIN.search(parts[0]):
            parts.pop(0)
        while parts and not LATIN.search(parts[-1]):
            parts.pop()
        if not parts or chinese.get(text) == text:
            continue
        parts[0], parts[-1] = parts[0].lstrip(" :(·–—"), parts[-1].rstrip(" :)·–—")
        core = "%s".join(parts)
        if in_chinese(core):
            continue
        patterns.append(r"[^\n]{1,80}?".join(re.escape(part) for part in parts))
    patterns.sort(key=len, reverse=True)  # the longest text wins where one contains another
    return re.compile(r"(?<![\w])(?:" + "|".join(patterns) + r")(?![\w])")


@cache
def _inside_chinese() -> str:
    return "\n".join(_chinese().values())


def in_chinese(text: str) -> bool:
    """Whether the Chinese interface itself uses ``text`` as it is (SMS, CSV, a column's name)."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(text)}(?![A-Za-z_])", _inside_chinese()) is not None


def _data_of_the_world(world: World) -> list[str]:
    """What the records hold (typed by people, in any language), longest first: taken out of a
    page before it is read, so that a name or an alert's English text is never taken for the UI."""
    values: set[str] = set()
    for relation in CANARIES:
        values.update(CANARIES[relation])
    for name, phone in REGISTRANT_CANARIES.values():
        values.update((name, phone))
    values.update(PLACE_CANARIES.values())
    columns = [User.username, User.display_name, User.email, LiaisonPoint.name, LiaisonPoint.name_en,
               LiaisonPoint.address, ServiceStation.name, ServiceStation.name_en, ServiceStation.city,
               ServiceStation.host_organisation, ServiceStation.contact_name, ServiceStation.contact_email,
               Mission.name, Mission.name_en, Mission.city, Mission.address, Division.name, Division.name_en,
               CoordinationCentre.name, CoordinationCentre.name_en, CoordinationCentre.city,
               Case.reference, Case.summary, Case.city, Case.place, Case.tags, Incident.title,
               Referral.target_name, Attachment.filename, Alert.event, Alert.identifier,
               AlertText.headline, AlertText.body, AlertText.instruction, Registrant.city]
    for column in columns:
        values.update(str(v) for v in db.session.scalars(sa.select(column)) if v)
    values.update(str(v) for v in db.session.scalars(sa.select(Registrant.name)) if v)
    return sorted((v for v in values if len(v) > 1), key=len, reverse=True)


class _Reader(HTMLParser):
    """The text a reader meets on a page (text nodes and read attributes), each piece apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []  # text nodes: also checked for raw codes
        self.attributes: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if self._skipping or tag in SKIPPED_TAGS or RAW in values:
            if tag not in ("br", "img", "input", "meta", "link", "hr", "source", "wbr"):
                self._skipping.append(tag)
            return
        self.attributes += [v for k, v in values.items() if READ_ATTRIBUTES.match(k) and v]
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.attributes.append(values["value"])

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.texts.append(data)


def leaks(html: str, data: list[str]) -> list[str]:
    """The English interface strings and raw codes a Chinese reader would meet on this page."""
    reader = _Reader()
    reader.feed(html)
    found: list[str] = []
    for kind, pieces in (("text", reader.texts), ("attribute", reader.attributes)):
        for piece in pieces:
            if not LATIN.search(piece):
                continue
            for value in data:
                if value in piece:
                    piece = piece.replace(value, "\n")
            piece = TIME_ZONE.sub("\n", piece)
            found += [f"{kind}: {m.group(0)!r}" for m in untranslated_pattern().finditer(piece)]
            if kind == "text":
                without_addresses = re.sub(r"\S+@\S+|https?://\S+|\b\S+\.(?:csv|txt|pdf|xlsx|xml|json)\b",
                                           " ", piece)
                found += [f"code: {m.group(0)!r}" for m in CODE.finditer(without_addresses)
                          if not in_chinese(m.group(0))]
    return found


# --- the walk -----------------------------------------------------------------------------------


@pytest.fixture
def chinese_world(app: Flask, make_point: Any, make_station: Any, make_mission: Any, make_user: Any,
                  make_division: Any) -> World:
    world = world_once(make_point, make_station, make_mission, make_user, make_division)
    for user in world.users.values():
        user.locale = "zh_Hans"
    db.session.commit()
    return world


def _browser(app: Flask, world: World, who: str, logged_in: Any) -> Browser:
    if who == ANON:
        return Browser(app.test_client())  # no Accept-Language: the default, Chinese
    return logged_in(world.users[Role(who)])


WHO = [ANON, "admin", "coordinator", "liaison_officer", "station_volunteer"]


@pytest.mark.parametrize("who", WHO)
def test_every_page_a_role_opens_is_chinese(app: Flask, chinese_world: World, logged_in: Any,
                                            who: str) -> None:
    browser = _browser(app, chinese_world, who, logged_in)
    data = _data_of_the_world(chinese_world)
    problems: list[str] = []
    pages = pages_of(app, chinese_world, who)
    read = 0
    for path in pages:
        response = browser.get(path)
        html = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        response.close()
        if response.status_code != 200 or not html:
            continue
        read += 1
        problems += [f"{path}: {leak}" for leak in leaks(html, data)]
    assert read >= (1 if who == ANON else 8), f"only {read} pages read for {who}"
    assert not problems, f"{len(problems)} English strings on {who}'s Chinese pages:\n" + "\n".join(
        sorted(set(problems)))


# --- every form's refusal -------------------------------------------------------------------------

TYPED = {"text", "textarea", "email", "tel", "search", "url", ""}


class _Forms(HTMLParser):
    """The POST forms of a page: their action and fields (name, kind, value)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str, str]]]] = []
        self._fields: list[tuple[str, str, str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._fields = []
                self.forms.append((a.get("action", ""), self._fields))
            return
        if self._fields is None or not a.get("name"):
            if tag == "option" and self._select is not None and self._fields is not None \
                    and ("selected" in a or not any(n == self._select and v for n, _k, v in self._fields)):
                self._fields.append((self._select, "select", a.get("value", "")))
            return
        kind = a.get("type", "text")
        if tag == "input" and kind in ("checkbox", "radio"):
            if "checked" in a:  # what a browser sends
                self._fields.append((a["name"], kind, a.get("value", "y")))
        elif tag == "input" and kind not in ("submit", "button", "file"):
            self._fields.append((a["name"], kind, a.get("value", "")))
        elif tag == "textarea":
            self._fields.append((a["name"], "textarea", ""))
        elif tag == "select":
            self._select = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None


@pytest.mark.parametrize("who", ["admin", "coordinator", "liaison_officer", "station_volunteer"])
def test_every_form_refuses_in_chinese(app: Flask, chinese_world: World, logged_in: Any, who: str) -> None:
    """Each form with a text field, sent with every text field far too long: the refusal (on the
    page, or flashed on the page it returns to) is Chinese, WTForms' own messages included."""
    browser = _browser(app, chinese_world, who, logged_in)
    data = _data_of_the_world(chinese_world)
    problems: list[str] = []
    sent: set[str] = set()
    for path in pages_of(app, chinese_world, who):
        page = browser.get(path)
        html = page.get_data(as_text=True) if page.mimetype == "text/html" else ""
        page.close()
        if page.status_code != 200 or not html:
            continue
        reader = _Forms()
        reader.feed(html)
        for action, fields in reader.forms:
            target = urlsplit(action or path).path
            typed = [n for n, kind, _v in fields if kind in TYPED and "__index__" not in n]
            if not typed or target in sent or target.endswith(("/logout", "/language")):
                continue
            sent.add(target)
            body = {n: v for n, _k, v in fields}
            body.update(dict.fromkeys(typed, "长" * 20_001))  # over every length limit
            answer = browser.client.post(target, data=body, follow_redirects=True)
            if answer.status_code >= 500:
                problems.append(f"POST {target}: {answer.status_code}")
            elif answer.mimetype == "text/html":
                problems += [f"POST {target}: {leak}" for leak in leaks(answer.get_data(as_text=True), data)]
    assert sent, f"no form with a text field found for {who}"
    assert not problems, f"{len(problems)} English strings in {who}'s Chinese refusals:\n" + "\n".join(
        sorted(set(problems)))


def test_wtforms_messages_are_chinese_in_subforms_and_where_its_catalog_has_none(
        app: Flask, chinese_world: World, logged_in: Any) -> None:
    """A person's row on the new-case page is a subform: its length message was English. And
    WTForms' own Chinese catalog lacks a few messages (a choice not in the list): ours has them."""
    from alerts.authoring.forms import AlertForm

    officer = logged_in(chinese_world.users[Role.liaison_officer])
    page = officer.post("/cases/new", {"persons-0-role": "involved", "persons-0-name_zh": "长" * 121,
                                        "summary": "走失"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "字段长度不能超过 120 个字符" in html and "cannot be longer" not in html
    with app.test_request_context("/", method="POST", data={"audience_kinds": "nobody"},
                                  headers={"Accept-Language": "zh-CN"}):
        form = AlertForm(meta={"csrf": False})
        form.base_language.choices = [("zh_Hans", "简体中文")]  # the view fills them in
        form.validate()
        assert form.audience_kinds.errors == ["“nobody”不是此字段的有效选项。"]
