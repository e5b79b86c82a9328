"""Rows of the alerts side: alerts (CAP 1.2-shaped) with their texts per language and target areas,
one delivery per (alert, recipient), inbound replies, the console gateway's outbox and the worker
heartbeat."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config import current_settings
from consular.db import EncryptedString, Model, UTCDateTime, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def call_round_minutes(alert_minutes: int | None) -> int:
    """See ``Alert.call_round_minutes``; for rows read as columns."""
    return alert_minutes or current_settings().safety_check_default_minutes


def ladder_minutes(alert_minutes: int | None, rung: str) -> int:
    """Minutes before a rung of the ladder (``LadderRung``: call, kin, visit) after the rung below
    it: the alert's own value (set at creation from LADDER_*_MINUTES), else the setting's; 0: the
    rung is not climbed."""
    if alert_minutes is not None:
        return alert_minutes
    return int(getattr(current_settings(), f"ladder_{rung}_minutes"))


def _ladder_default(rung: str) -> Any:
    return lambda: int(getattr(current_settings(), f"ladder_{rung}_minutes"))


def _enum(enum: type[StrEnum], length: int = 30) -> sa.Enum:
    return sa.Enum(enum, native_enum=False, length=length, validate_strings=True)


class WorkerHeartbeat(Model):
    """One row per worker process; ``last_tick_at`` tells whether it is alive."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # host:pid:start
    host: Mapped[str] = mapped_column(sa.String(100))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    jobs_run: Mapped[int] = mapped_column(default=0)
    queue_depth: Mapped[int] = mapped_column(default=0)  # deliveries due and unclaimed at the last tick
    embedded: Mapped[bool] = mapped_column(default=False)  # a thread inside `serve --dev`
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- CAP 1.2 vocabularies (values as CAP spells them) ----------------------------------------


class CapStatus(StrEnum):
    Actual = "Actual"
    Exercise = "Exercise"  # a drill: marked as such in every message
    Test = "Test"


class CapMsgType(StrEnum):
    Alert = "Alert"
    Update = "Update"
    Cancel = "Cancel"


class CapCategory(StrEnum):
    Geo = "Geo"
    Met = "Met"
    Safety = "Safety"
    Security = "Security"
    Rescue = "Rescue"
    Fire = "Fire"
    Health = "Health"
    Env = "Env"
    Transport = "Transport"
    Infra = "Infra"
    CBRNE = "CBRNE"
    Other = "Other"


class CapUrgency(StrEnum):
    Immediate = "Immediate"
    Expected = "Expected"
    Future = "Future"
    Past = "Past"
    Unknown = "Unknown"


class CapSeverity(StrEnum):
    Extreme = "Extreme"
    Severe = "Severe"
    Moderate = "Moderate"
    Minor = "Minor"
    Unknown = "Unknown"


class CapCertainty(StrEnum):
    Observed = "Observed"
    Likely = "Likely"
    Possible = "Possible"
    Unlikely = "Unlikely"
    Unknown = "Unknown"


class AlertState(StrEnum):
    draft = "draft"
    pending_approval = "pending_approval"
    scheduled = "scheduled"  # approved; sends at send_at (or on its recurrence)
    sending = "sending"  # fanned out; deliveries being dispatched
    sent = "sent"  # every delivery reached a final state, and at least one message went out
    not_sent = "not_sent"  # finished without any message going out: ``Alert.not_sent_reason`` says why
    cancelled = "cancelled"


class NotSentReason(StrEnum):
    """Why an alert finished without a single message going out (``Alert.not_sent_reason``)."""

    no_recipients = "no_recipients"  # nobody in the area was registered and reachable
    opted_out = "opted_out"  # everyone had unsubscribed
    invalid_number = "invalid_number"  # no recipient's number could receive SMS
    quiet_hours = "quiet_hours"  # quiet hours at the recipients lasted past the expiry
    expired = "expired"  # the alert expired before anything could be sent
    refused = "refused"  # every message was refused (by the provider, or no text to send)
    several = "several"  # a mix of the above: the progress page lists each reason


class RecurrenceKind(StrEnum):
    """How a recurring alert repeats (``Alert.recurrence_rule`` holds the rest: time of day, days)."""

    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    yearly = "yearly"
    holiday = "holiday"  # N days before a holiday of the Chinese calendar
    cron = "cron"  # an older alert's crontab (``Alert.recurrence``), kept and still run as written


class Alert(Model):
    __tablename__ = "alert"
    __table_args__ = (
        sa.Index("ix_alert_due", "state", "send_at"),
        # One occurrence of a recurring alert per run time, however many workers spawn it.
        sa.UniqueConstraint("parent_id", "send_at", name="uq_alert_occurrence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(sa.String(120), unique=True)  # CAP identifier
    state: Mapped[AlertState] = mapped_column(_enum(AlertState), default=AlertState.draft, index=True)
    status: Mapped[CapStatus] = mapped_column(_enum(CapStatus, 10), default=CapStatus.Actual)
    msg_type: Mapped[CapMsgType] = mapped_column(_enum(CapMsgType, 10), default=CapMsgType.Alert)
    references_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"))  # Update / Cancel of
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"))  # recurring template
    category: Mapped[CapCategory] = mapped_column(_enum(CapCategory, 10), default=CapCategory.Safety)
    event: Mapped[str] = mapped_column(sa.String(120))  # e.g. "Civil unrest", "Typhoon"
    urgency: Mapped[CapUrgency] = mapped_column(_enum(CapUrgency, 10), default=CapUrgency.Expected)
    severity: Mapped[CapSeverity] = mapped_column(_enum(CapSeverity, 10), default=CapSeverity.Moderate)
    certainty: Mapped[CapCertainty] = mapped_column(_enum(CapCertainty, 10), default=CapCertainty.Likely)
    base_language: Mapped[str] = mapped_column(sa.String(10), default="zh_Hans")
    audience_kinds: Mapped[str] = mapped_column(sa.String(200), default="")  # comma list; "" = all
    present_only: Mapped[bool] = mapped_column(default=False)  # "who is there now" by stay dates
    public: Mapped[bool] = mapped_column(default=False)  # listed in the public Atom feed
    safety_check: Mapped[bool] = mapped_column(default=False)  # asks "1 safe / 2 need help"
    safety_check_minutes: Mapped[int | None] = mapped_column()  # unanswered after → call-round
    resend_unanswered: Mapped[bool] = mapped_column(default=False)  # re-send once to the unanswered
    # The ladder for the silent (``alerts.ladder``): minutes from one rung to the next (the
    # reminder is the re-send above, after ``call_round_minutes``), taken from LADDER_*_MINUTES
    # when the alert is created; 0: that rung is not climbed; None (older rows): the settings'.
    ladder_call_minutes: Mapped[int | None] = mapped_column(default=_ladder_default("call"))
    ladder_kin_minutes: Mapped[int | None] = mapped_column(default=_ladder_default("kin"))
    ladder_visit_minutes: Mapped[int | None] = mapped_column(default=_ladder_default("visit"))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None = as soon as approved
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A recurring alert: how it repeats (None: sent once), the rule's values as checked by
    # ``alerts.authoring.schedule_input`` (time of day, weekdays, day, month, holiday, days before,
    # end date), and for ``cron`` only the crontab an older alert was written with.
    recurrence_kind: Mapped[RecurrenceKind | None] = mapped_column(_enum(RecurrenceKind, 10))
    recurrence_rule: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    recurrence: Mapped[str | None] = mapped_column(sa.String(120))  # crontab in the office's zone
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    approver_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While a large alert is fanned out slice by slice: the last registrant id it has reached (the
    # next slice goes on from there, in whatever worker). None once every recipient has a delivery.
    fanout_after: Mapped[int | None] = mapped_column(sa.BigInteger())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    cancel_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    # The two-person rule: the approver is neither the author nor whoever edited the alert last.
    last_edited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    review_note: Mapped[str] = mapped_column(sa.String(500), default="")  # why it was sent back
    planned_count: Mapped[int] = mapped_column(default=0)
    not_sent_reason: Mapped[NotSentReason | None] = mapped_column(_enum(NotSentReason, 20))
    # Written from a template (``alerts.authoring.models``): its texts may hold placeholders, filled
    # per recipient when a message is rendered; the place and time of the event fill two of them.
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert_template.id"))
    place: Mapped[str] = mapped_column(sa.String(120), default="")
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Break-glass (紧急发布): one coordinator sent an Extreme or Immediate alert without a second
    # approval, saying why; a second coordinator reviews it afterwards.
    break_glass_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    break_glass_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    break_glass_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    break_glass_review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    break_glass_reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    break_glass_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    break_glass_review_note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    texts: Mapped[list[AlertText]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertText.id"
    )
    areas: Mapped[list[AlertArea]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertArea.id"
    )
    references: Mapped[Alert | None] = relationship(remote_side=[id], foreign_keys=[references_id])

    @hybrid_property
    def recurs(self) -> bool:
        """A recurring alert (a template whose runs are copies), not one sent once."""
        return self.recurrence_kind is not None

    @recurs.inplace.expression
    @classmethod
    def _recurs_expression(cls) -> sa.ColumnElement[bool]:
        return cls.recurrence_kind.is_not(None)

    @property
    def call_round_minutes(self) -> int:
        """Minutes without an answer before a safety check's recipient is on the call round: the
        alert's own time, else the office's SAFETY_CHECK_DEFAULT_MINUTES (the follow-up job, the
        pages and the API all read it here)."""
        return call_round_minutes(self.safety_check_minutes)


class TextColumns:
    """The columns of an alert's texts in one language, and of a template's (which become an
    alert's when it is used). The owning table adds its id and the key of its alert or template."""

    language: Mapped[str] = mapped_column(sa.String(10))  # an SMS locale (zh_Hans, en, it, …)
    # CAP's <event> in this language ("Earthquake", "Séisme"); empty: the alert's own event in its
    # base language, else the category's name in this language (``alerts.authoring.cap``).
    event: Mapped[str] = mapped_column(sa.String(120), default="")
    headline: Mapped[str] = mapped_column(sa.String(160))
    body: Mapped[str] = mapped_column(sa.Text)
    instruction: Mapped[str] = mapped_column(sa.Text, default="")


class AlertText(TextColumns, Model):
    """The headline and message in one language."""

    __tablename__ = "alert_text"
    __table_args__ = (sa.UniqueConstraint("alert_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"))

    alert: Mapped[Alert] = relationship(back_populates="texts")


class AreaShape(StrEnum):
    place = "place"  # a country, optionally narrowed to a city (by the registrants' own entries)
    circle = "circle"  # everyone placed within radius_km of (latitude, longitude)
    polygon = "polygon"  # everyone placed inside the polygon's vertices


class AlertArea(Model):
    """A target area: a country, optionally narrowed to a city; or a circle (a centre, typed or a
    city of the city index, and a radius) or a polygon, aimed at where registrants are placed
    (``Registrant.latitude``/``longitude``)."""

    __tablename__ = "alert_area"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    shape: Mapped[AreaShape] = mapped_column(_enum(AreaShape, 10), default=AreaShape.place,
                                             server_default=AreaShape.place.value)
    country_code: Mapped[str] = mapped_column(sa.String(2))  # a circle or polygon: "" or its centre's
    city: Mapped[str] = mapped_column(sa.String(120), default="")  # "" = the whole country
    # A circle: its centre (degrees) and radius; a circle around a city: the city's name in ``city``.
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    radius_km: Mapped[float | None] = mapped_column(sa.Float)
    # A polygon: its vertices as CAP writes them, "lat,lon lat,lon …", first and last the same.
    polygon: Mapped[str | None] = mapped_column(sa.Text)

    alert: Mapped[Alert] = relationship(back_populates="areas")


class DeliveryState(StrEnum):
    pending = "pending"  # due at due_at
    deferred = "deferred"  # quiet hours at the recipient: due_at is the morning
    claimed = "claimed"  # a worker holds it until lease_until
    submitted = "submitted"  # the provider accepted it (we have its id)
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"  # permanent error
    skipped = "skipped"  # opted out, invalid number, expired, cancelled


FINAL_DELIVERY_STATES = (
    DeliveryState.delivered,
    DeliveryState.undelivered,
    DeliveryState.failed,
    DeliveryState.skipped,
)


class ReplyKind(StrEnum):
    safe = "safe"
    need_help = "need_help"
    unknown = "unknown"


class CallOutcome(StrEnum):
    """What a call of the call round found (the latest attempt decides)."""

    reached_safe = "reached_safe"
    reached_needs_help = "reached_needs_help"
    no_answer = "no_answer"
    wrong_number = "wrong_number"
    message_left = "message_left"


class Delivery(Model):
    """One message of one alert to one registrant; (alert, registrant) is unique."""

    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "registrant_id"),
        # (due_at, id) is the claim's own order: a batch is read off the index, never sorted
        # (one alert's deliveries share one due_at).
        sa.Index("ix_delivery_due", "due_at", "id",
                 postgresql_where=sa.text("state IN ('pending', 'deferred')"),
                 sqlite_where=sa.text("state IN ('pending', 'deferred')")),
        sa.Index("ix_delivery_lease", "lease_until",
                 postgresql_where=sa.text("state = 'claimed'"),
                 sqlite_where=sa.text("state = 'claimed'")),
        sa.Index("ix_delivery_alert_state", "alert_id", "state"),
        # The latest messages to one destination country: the share of them with a final receipt.
        sa.Index("ix_delivery_phone_country", "phone_country", "submitted_at",
                 postgresql_where=sa.text("phone_country IS NOT NULL"),
                 sqlite_where=sa.text("phone_country IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id"))
    registrant_id: Mapped[int] = mapped_column(sa.ForeignKey("registrant.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(10))  # the text chosen by the fallback chain
    country_code: Mapped[str] = mapped_column(sa.String(2))  # copied for progress counts
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState, 12), default=DeliveryState.pending)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[int | None] = mapped_column()
    segments: Mapped[int | None] = mapped_column()
    sender: Mapped[str | None] = mapped_column(sa.String(40))  # the sender that sent it (SMS_SENDERS)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    skip_reason: Mapped[str | None] = mapped_column(sa.String(40))
    reply_kind: Mapped[ReplyKind | None] = mapped_column(_enum(ReplyKind, 10))
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the one re-send to the unanswered
    # Dispatch bookkeeping. An attempt whose outcome is unknown (a worker died holding the claim, or
    # the provider's answer was lost) started at ``reconcile_from``: ask the provider before sending
    # again. ``previous_provider_id`` is the first message's id after the safety-check re-send.
    reconcile_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    previous_provider_id: Mapped[str | None] = mapped_column(sa.String(64))
    call_round_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # safety check unanswered
    # The latest call of the call round (its history: ``CallAttempt``).
    call_outcome: Mapped[CallOutcome | None] = mapped_column(_enum(CallOutcome, 20))
    call_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The country of the number the message went to (by its calling code), for receipt shares.
    phone_country: Mapped[str | None] = mapped_column(sa.String(2))
    # The channel of the current attempt (chosen when the delivery is first claimed: the recipient's
    # first consented channel; ``ContactChannel``) and when a WhatsApp message that could not be
    # delivered fell back to SMS (set once: never a second fallback). ``provider_id`` is the
    # current attempt's message or call; ``previous_provider_id`` the one before it.
    channel: Mapped[str | None] = mapped_column(sa.String(10))
    fallback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The highest rung of the ladder this recipient has reached (``LadderRung``; its history, one
    # row per rung: ``LadderStep``). A delivery on the ``call`` rung is the ladder's voice call.
    ladder_rung: Mapped[str | None] = mapped_column(sa.String(10))

    alert: Mapped[Alert] = relationship()


class LadderRung(StrEnum):
    """The rungs of the ladder for the silent of a safety check, in the order they are climbed."""

    reminder = "reminder"  # the safety check's one re-send (``Delivery.resent_at``)
    call = "call"  # a voice call with the same question
    kin = "kin"  # an SMS to the next of kin on record
    visit = "visit"  # a welfare visit: a case for the nearest service station


LADDER_RUNGS = tuple(LadderRung)


class LadderStepState(StrEnum):
    taken = "taken"  # the rung's message or call is scheduled, or its case made
    skipped = "skipped"  # not possible for this person (``skip_reason``): the ladder goes on
    pending = "pending"  # a next-of-kin SMS waiting for the dispatcher
    claimed = "claimed"  # … held by a dispatch round until ``lease_until``
    sent = "sent"  # … accepted by the provider
    failed = "failed"  # … refused for good


class LadderStep(Model):
    """One rung of the ladder climbed for one delivery: (delivery, rung) is unique, so however many
    workers run the ladder, and whenever one dies, nobody gets a rung twice. The row is written in
    the same transaction that schedules the rung's message or call (or makes its case). A
    next-of-kin SMS is sent from this row by the dispatcher (claim, lease, record), like a case
    notice."""

    __tablename__ = "ladder_step"
    __table_args__ = (
        sa.UniqueConstraint("delivery_id", "rung"),
        sa.Index("ix_ladder_step_alert", "alert_id", "rung", "state"),
        sa.Index("ix_ladder_step_due", "id",
                 postgresql_where=sa.text("state IN ('pending', 'claimed')"),
                 sqlite_where=sa.text("state IN ('pending', 'claimed')")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("delivery.id"))
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id"))
    rung: Mapped[LadderRung] = mapped_column(_enum(LadderRung, 10))
    state: Mapped[LadderStepState] = mapped_column(_enum(LadderStepState, 10))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    skip_reason: Mapped[str | None] = mapped_column(sa.String(40))
    # The next-of-kin SMS: to whom (sealed), in which language, and its dispatch bookkeeping.
    phone: Mapped[str | None] = mapped_column(EncryptedString())
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reconcile_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(sa.String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(sa.String(200))
    # The welfare visit's case (assigned to the nearest station, or waiting in triage).
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_file.id"))


class CallAttempt(Model):
    """One call of the call round to the recipient of a safety check: what it found, a note (sealed
    at rest: it may say what happened to the person), who called and when. Kept as a history."""

    __tablename__ = "call_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("delivery.id"), index=True)
    outcome: Mapped[CallOutcome] = mapped_column(_enum(CallOutcome, 20))
    note: Mapped[str | None] = mapped_column(EncryptedString())
    called_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    called_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_file.id"))


class InboundMessage(Model):
    """An SMS someone sent us (STOP, HELP, a safety-check answer, anything)."""

    __tablename__ = "inbound_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # idempotency
    from_number: Mapped[str] = mapped_column(EncryptedString())
    from_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    to_number: Mapped[str] = mapped_column(sa.String(32), default="")
    body: Mapped[str] = mapped_column(EncryptedString())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # stop, start, help, safe, need_help, unknown
    registrant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("registrant.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("delivery.id"))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_file.id"))


class ConsoleMessage(Model):
    """The console gateway's outbox (the embedded default): what would have been texted."""

    __tablename__ = "console_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # A registrant's number, sealed like the registrant's own copy: a dump must not reveal it.
    to: Mapped[str] = mapped_column(EncryptedString())
    body: Mapped[str] = mapped_column(sa.Text)
    status_callback: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class SmsRateBucket(Model):
    """The send-rate limits shared by every worker: one row per sender and kind of traffic, holding
    the moment from which the next segment may be sent (a token bucket in its "theoretical arrival
    time" form)."""

    __tablename__ = "sms_rate_bucket"

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # kind, or kind:sender
    next_free_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- hazard watch (``alerts.hazards``) -----------------------------------------------------------


class HazardFeed(Model):
    """What the worker knows of one configured hazard feed (HAZARD_FEEDS): what to ask it next
    (its ETag and Last-Modified) and how its last polls went."""

    __tablename__ = "hazard_feed"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # cap, usgs
    url: Mapped[str] = mapped_column(sa.String(500))
    etag: Mapped[str | None] = mapped_column(sa.String(200))
    last_modified: Mapped[str | None] = mapped_column(sa.String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(sa.String(300), default="")
    last_events: Mapped[int] = mapped_column(default=0)  # entries read at the last success


class HazardEvent(Model):
    """One hazard (an earthquake, a storm warning…) read from a feed: where and when, how severe,
    how many registrants are in its area, and the draft alert made for it, if any. The same event
    read again (an update, or from a second feed) is this row: see ``HazardEventKey``."""

    __tablename__ = "hazard_event"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id"),
        sa.Index("ix_hazard_event_kind_time", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(40))  # the feed it was first read from
    external_id: Mapped[str] = mapped_column(sa.String(200))  # its id in that feed
    kind: Mapped[str] = mapped_column(sa.String(30))  # a template hazard (earthquake, fire…)
    event: Mapped[str] = mapped_column(sa.String(120), default="")  # as the feed names it
    severity: Mapped[str] = mapped_column(sa.String(10), default="Unknown")  # CAP's scale
    magnitude: Mapped[float | None] = mapped_column(sa.Float)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the feed's own "updated"
    latitude: Mapped[float | None] = mapped_column(sa.Float)  # a point (with radius_km), or
    longitude: Mapped[float | None] = mapped_column(sa.Float)  # a polygon's middle
    radius_km: Mapped[float | None] = mapped_column(sa.Float)
    polygon: Mapped[str | None] = mapped_column(sa.Text)  # CAP's "lat,lon lat,lon …"
    headline: Mapped[str] = mapped_column(sa.String(300), default="")
    place: Mapped[str] = mapped_column(sa.String(120), default="")
    link: Mapped[str] = mapped_column(sa.String(500), default="")
    cancelled: Mapped[bool] = mapped_column(default=False)  # the source withdrew it
    exposure: Mapped[int] = mapped_column(default=0)  # registrants in its area at the last count
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"))  # the draft made for it
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    alert: Mapped[Alert | None] = relationship()
    keys: Mapped[list[HazardEventKey]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class HazardEventKey(Model):
    """A name an event goes by: a USGS event id (every one of its ``ids``), a CAP alert's
    "sender,identifier" (and those it references). An entry carrying a known key is that event."""

    __tablename__ = "hazard_event_key"

    key: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("hazard_event.id", ondelete="CASCADE"),
                                          index=True)
