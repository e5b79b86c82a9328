"""Reconciling many messages with Twilio at once: pages of the account's message list, newest
first, read as Twilio's JSON and matched here by number and exact body (``TwilioGateway.find_sent_many``)."""

from __future__ import annotations

import email.utils
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from alerts.gateways.protocol import Outcome, SendResult, SentQuery

# How far before ``since`` reconciliation looks (clock skew between us and the provider).
RECONCILE_SLACK = timedelta(minutes=2)
# Reconciling many messages at once lists the account's messages, newest first, in pages of the
# most Twilio gives. One such page costs about what asking about 30 messages one by one costs (one
# small list request each for a number with few messages, 8 at a time; measured against the fake
# Twilio), so a batch lists at most a page per 30 questions (never more than RECONCILE_MAX_PAGES);
# what they do not reach is asked one by one. The pages reach back RECONCILE_SLACK before the
# attempts began: 300 questions are answered from them while the account sent fewer than about 80
# messages a second over that window (or fewer than 10,000 messages in all, early in a send).
RECONCILE_PAGE_SIZE = 1000
RECONCILE_QUESTIONS_PER_PAGE = 30
RECONCILE_MAX_PAGES = 100


def accepted_record(record: Mapping[str, Any]) -> SendResult:
    """A message the provider has, from its resource as Twilio's JSON gives it."""
    segments, status = record.get("num_segments"), record.get("status")
    return SendResult(
        outcome=Outcome.accepted,
        provider_id=record["sid"],
        provider_status=str(status) if status is not None else None,
        error_code=record.get("error_code") or None,
        error_message=record.get("error_message") or None,
        segments=int(segments) if segments not in (None, "") else None,
    )


@functools.lru_cache(maxsize=4096)
def twilio_date(value: str | None) -> datetime | None:
    """A date of Twilio's JSON (RFC 2822, whole seconds, GMT); a page's messages share a few."""
    if not value:
        return None
    when = email.utils.parsedate_to_datetime(value)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def reconcile_cutoff(since: datetime) -> datetime:
    """The earliest creation a message of an attempt that began at ``since`` can show."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since.astimezone(UTC) - RECONCILE_SLACK


class Listing:
    """What pages of the account's messages, newest first, have shown of the messages asked about
    (``alike``: positions by number and body): each such message with its creation time (``found``),
    and how far back the pages reached (``covers``)."""

    def __init__(self, alike: Mapping[tuple[str, str], list[int]], oldest: datetime, budget: int) -> None:
        self.alike = alike
        self.oldest = oldest  # the earliest cutoff asked about
        self.budget = budget
        self.found: dict[tuple[str, str], list[tuple[dict[str, Any], datetime | None]]] = defaultdict(list)
        self.pages = 0
        self.ended = False  # the list had no more pages
        self.floor: datetime | None = None  # the earliest DateSent listed
        self.newest: datetime | None = None  # the first message's time

    def covers(self, cutoff: datetime) -> bool:
        """Has every message created at or after ``cutoff`` (whole seconds, as Twilio's dates)
        been listed?"""
        return self.ended or (self.floor is not None and self.floor < cutoff)

    def read(self, page: Callable[[str | None], dict[str, Any]]) -> None:
        next_uri: str | None = None
        while self.pages < self.budget and not self.covers(self.oldest):
            payload = page(next_uri)
            self.pages += 1
            for record in payload["messages"]:
                sent = twilio_date(record.get("date_sent"))
                created = twilio_date(record.get("date_created"))
                key = (record.get("to"), record.get("body"))
                if key in self.alike:
                    self.found[key].append((record, created))
                if sent is not None and (self.floor is None or sent < self.floor):
                    self.floor = sent
                self.newest = self.newest or created or sent
            next_uri = payload.get("next_page_uri")
            if not next_uri:
                self.ended = True
            elif self._too_far():
                return

    def _too_far(self) -> bool:
        """Would reaching the earliest cutoff take more pages than the budget at the pace of the
        pages so far (each spanned at most a second more than its whole-second dates say)? Judged
        after a quarter of the budget: a burst (a mass alert just begun) paces the first pages far
        faster than the account sent before it, and its list may well end within the budget."""
        if (self.pages < max(1, self.budget // 4) or self.newest is None or self.floor is None
                or self.covers(self.oldest)):
            return False
        seconds_a_page = ((self.newest - self.floor).total_seconds() + 1) / self.pages
        return (self.newest - self.oldest).total_seconds() / seconds_a_page > self.budget


def answer_from_list(queries: Sequence[SentQuery], page: Callable[[str | None], dict[str, Any]]
                     ) -> tuple[dict[int, SendResult | None], int]:
    """The answers to ``queries`` (by position) that pages of the account's messages give, and how
    many pages were read: ``page(None)`` is the first page, ``page(uri)`` the next one. Questions
    the pages within the budget did not reach, and questions alike (same number and body) when the
    provider has such a message, are left out: the caller asks them one by one."""
    budget = min(RECONCILE_MAX_PAGES, len(queries) // RECONCILE_QUESTIONS_PER_PAGE)
    if budget < 1:
        return {}, 0
    # Twilio's dates are whole seconds: a message created in the cutoff's second may be later.
    cutoffs = [reconcile_cutoff(q.since).replace(microsecond=0) for q in queries]
    alike: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position, query in enumerate(queries):
        alike[(query.to, query.body)].append(position)
    listing = Listing(alike, min(cutoffs), budget)
    listing.read(page)
    answers: dict[int, SendResult | None] = {}
    for key, positions in alike.items():
        if not all(listing.covers(cutoffs[p]) for p in positions):
            continue
        found = listing.found.get(key, [])
        if len(positions) == 1:
            cutoff = cutoffs[positions[0]]
            match = next((r for r, created in found if created is None or created >= cutoff), None)
            answers[positions[0]] = accepted_record(match) if match is not None else None
        elif not any(created is None or created >= min(cutoffs[p] for p in positions)
                     for _r, created in found):
            answers.update(dict.fromkeys(positions, None))
    return answers, listing.pages


def messages_page(client: Client, account_sid: str, next_page_uri: str | None) -> dict[str, Any]:
    """One page of the account's messages, newest first (the first, or the one at
    ``next_page_uri``), as Twilio's JSON. Raises what the client raises, or
    ``TwilioRestException`` for an error answer."""
    if next_page_uri is None:
        url = f"{client.api.base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        params: dict[str, object] | None = {"PageSize": RECONCILE_PAGE_SIZE}
    else:
        url, params = urljoin(client.api.base_url, next_page_uri), None
    response = client.request("GET", url, params=params)
    if response.status_code != 200:
        try:
            error = json.loads(response.text)
        except ValueError:
            error = {}
        code = error.get("code") if isinstance(error, dict) else None
        raise TwilioRestException(response.status_code, url, code=code)
    payload = json.loads(response.text)
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise ValueError("not a page of messages")
    return payload

