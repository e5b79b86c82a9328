"""Case register models: cases, the people in them, hand-offs to stations, referrals, incidents,
the timeline, attachments, drafts, deadline breaches and in-app (and SMS) notifications.

Personal data (names, ID numbers, phones, the narrative, notes) is sealed at rest with
``EncryptedString``; exact-match search goes through keyed hashes (``*_hash`` columns and
``PersonNameKey``), so the database never holds a searchable plaintext.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from config import register_names
from consular.attachments import AttachmentColumns
from consular.auth.models import User
from consular.db import EncryptedString, Model, TimestampMixin, UTCDateTime, utcnow
from consular.network.models import Division, LiaisonPoint, Mission, ServiceStation
from consular.registry.places import normalise_place

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _enum(enum: type[StrEnum], length: int = 30) -> sa.Enum:
    return sa.Enum(enum, native_enum=False, length=length, validate_strings=True)


class CaseKind(StrEnum):
    abroad = "abroad"  # consular protection of the city's people abroad (领事保护)
    domestic = "domestic"  # foreign-related incident in the city (涉外案件)


class CaseCategory(StrEnum):
    """Following the Regulation on Consular Protection and Assistance (领事保护与协助工作条例)."""

    detained = "detained"  # detained, arrested or on trial
    rights_infringed = "rights_infringed"
    injured = "injured"
    ill = "ill"
    dead = "dead"
    missing = "missing"  # missing or lost contact
    stranded = "stranded"  # stranded or in hardship
    unaccompanied_minor = "unaccompanied_minor"
    lost_documents = "lost_documents"
    disaster_unrest = "disaster_unrest"  # caught in a disaster, war or unrest
    labour_business_dispute = "labour_business_dispute"
    fraud_theft = "fraud_theft"
    other = "other"


# RETENTION_CASES names categories: the loader checks them against these (config imports no model).
register_names("case category", CaseCategory.__members__)


class Priority(StrEnum):
    P1 = "P1"  # life or liberty at risk now
    P2 = "P2"  # serious, act today
    P3 = "P3"  # needs help, days
    P4 = "P4"  # information, advice


class CaseStatus(StrEnum):
    new = "new"
    triaged = "triaged"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_external = "waiting_external"
    resolved = "resolved"
    closed = "closed"


OPEN_STATUSES = (
    CaseStatus.new,
    CaseStatus.triaged,
    CaseStatus.assigned,
    CaseStatus.in_progress,
    CaseStatus.waiting_external,
)


class Channel(StrEnum):
    walk_in = "walk_in"  # a family walks into a liaison point
    phone = "phone"
    station = "station"  # reported by an overseas service station
    sms_reply = "sms_reply"  # a "need help" answer to a safety check
    hotline = "hotline"
    # Nobody answered a safety check on any rung of its ladder: the system asks a station to visit.
    welfare_visit = "welfare_visit"


# Channels only the system records (a safety check's answer, its ladder's welfare visit): no user
# picks them when logging or editing a case.
SYSTEM_CHANNELS = (Channel.sms_reply, Channel.welfare_visit)


class Outcome(StrEnum):
    assisted = "assisted"  # help given, person safe
    referred = "referred"  # handed to a mission / police / lawyers who now own it
    released = "released"  # released from detention
    repatriated = "repatriated"  # returned home (alive or remains)
    located = "located"  # missing person found
    documents_reissued = "documents_reissued"
    no_action_needed = "no_action_needed"
    withdrawn = "withdrawn"  # the family withdrew the request
    unreachable = "unreachable"
    other = "other"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class PersonRole(StrEnum):
    involved = "involved"  # the person the case is about (one or more)
    reporter = "reporter"  # who told us
    family = "family"  # family contact at home


class IdKind(StrEnum):
    passport = "passport"
    resident_id = "resident_id"  # 居民身份证
    travel_permit = "travel_permit"
    foreign_passport = "foreign_passport"
    other = "other"


class Incident(TimestampMixin, Model):
    """One event (a bus crash, an evacuation) that groups many cases."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    country_code: Mapped[str | None] = mapped_column(sa.String(2))
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    description: Mapped[str | None] = mapped_column(EncryptedString())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    active: Mapped[bool] = mapped_column(default=True)

    cases: Mapped[list[Case]] = relationship(back_populates="incident")


class CaseSequence(Model):
    """The last reference number handed out per year (``2026-000123``)."""

    __tablename__ = "case_sequence"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Case(TimestampMixin, Model):
    __tablename__ = "case_file"
    __table_args__ = (
        sa.Index("ix_case_file_queue", "status", "priority", "first_response_due_at"),
        sa.Index("ix_case_file_open_due", "first_response_due_at",
                 postgresql_where=sa.text("status IN ('new', 'triaged')"),
                 sqlite_where=sa.text("status IN ('new', 'triaged')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind), default=CaseKind.abroad)
    category: Mapped[CaseCategory] = mapped_column(_enum(CaseCategory, 40), index=True)
    priority: Mapped[Priority] = mapped_column(_enum(Priority, 2), default=Priority.P3)
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.new, index=True)
    summary: Mapped[str] = mapped_column(sa.String(200))  # one line: what happened (no ID numbers)
    narrative: Mapped[str | None] = mapped_column(EncryptedString())
    country_code: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    # The city as a search matches it (case, accents, spaces and a trailing 市 ignored): kept in step
    # with ``city`` so a search by any spelling of a city is one indexed lookup.
    city_key: Mapped[str] = mapped_column(sa.String(120), default="", index=True)
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    timezone: Mapped[str | None] = mapped_column(sa.String(64))  # local zone of the place, if known
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel), default=Channel.walk_in)
    tags: Mapped[str] = mapped_column(sa.String(300), default="")  # comma-separated, lower case

    # Where in the city a foreign-related incident at home happened (a township or street office).
    division_id: Mapped[int | None] = mapped_column(sa.ForeignKey("division.id"), index=True)
    liaison_point_id: Mapped[int | None] = mapped_column(sa.ForeignKey("liaison_point.id"), index=True)
    reporting_station_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("service_station.id"), index=True
    )
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    coordinator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incident.id"), index=True)
    # A safety-check reply that opened this case (no FK: the registry may purge the registrant).
    registrant_id: Mapped[int | None] = mapped_column(index=True)

    # Deadlines (recomputed at each transition) and the moments that meet them.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignment_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last breach raised
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    outcome_note: Mapped[str | None] = mapped_column(EncryptedString())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    legal_hold: Mapped[bool] = mapped_column(default=False)  # retention must not purge it
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # retention wiped personal data

    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 — SQLAlchemy's own mapping

    liaison_point: Mapped[LiaisonPoint | None] = relationship()
    division: Mapped[Division | None] = relationship()
    station: Mapped[ServiceStation | None] = relationship(foreign_keys=[station_id])
    reporting_station: Mapped[ServiceStation | None] = relationship(foreign_keys=[reporting_station_id])
    coordinator: Mapped[User | None] = relationship(foreign_keys=[coordinator_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    incident: Mapped[Incident | None] = relationship(back_populates="cases")
    persons: Mapped[list[CasePerson]] = relationship(
        back_populates="case", order_by="CasePerson.id", cascade="all, delete-orphan"
    )
    assignments: Mapped[list[StationAssignment]] = relationship(
        back_populates="case", order_by="StationAssignment.id"
    )
    referrals: Mapped[list[Referral]] = relationship(back_populates="case", order_by="Referral.id")
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case", order_by="TimelineEntry.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="case", order_by="Attachment.id")
    # Possible duplicates, from either side (this case resembles another, or another resembles it).
    resembles: Mapped[list[PossibleDuplicate]] = relationship(
        foreign_keys="PossibleDuplicate.case_id", order_by="PossibleDuplicate.id", viewonly=True)
    resembled_by: Mapped[list[PossibleDuplicate]] = relationship(
        foreign_keys="PossibleDuplicate.other_case_id", order_by="PossibleDuplicate.id", viewonly=True)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    @property
    def duplicate_links(self) -> list[PossibleDuplicate]:
        return sorted([*self.resembles, *self.resembled_by], key=lambda link: link.id)

    @validates("city")
    def _city_key(self, _key: str, city: str | None) -> str | None:
        self.city_key = normalise_place(city or "")[:120]
        return city


class CasePerson(Model):
    """Someone in a case: a person involved, the reporter or a family contact."""

    __tablename__ = "case_person"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    role: Mapped[PersonRole] = mapped_column(_enum(PersonRole), default=PersonRole.involved)
    name_zh: Mapped[str | None] = mapped_column(EncryptedString())  # 中文姓名
    name_latin: Mapped[str | None] = mapped_column(EncryptedString())  # as in the passport
    gender: Mapped[Gender] = mapped_column(_enum(Gender), default=Gender.unknown)
    birth_date: Mapped[date | None] = mapped_column(sa.Date)
    nationality: Mapped[str | None] = mapped_column(sa.String(2))
    id_kind: Mapped[IdKind | None] = mapped_column(_enum(IdKind))
    id_number: Mapped[str | None] = mapped_column(EncryptedString())
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    phone: Mapped[str | None] = mapped_column(EncryptedString())  # E.164
    phone_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    relationship_to_involved: Mapped[str] = mapped_column(sa.String(60), default="")  # 父亲, spouse…
    note: Mapped[str | None] = mapped_column(EncryptedString())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="persons")
    name_keys: Mapped[list[PersonNameKey]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


class PersonNameKey(Model):
    """Keyed hashes of a person's name in every script we match on (汉字, pinyin, passport spelling,
    either name order), so a search in any script is one indexed equality and names stay sealed."""

    __tablename__ = "person_name_key"
    __table_args__ = (sa.UniqueConstraint("person_id", "key_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("case_person.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), index=True)

    person: Mapped[CasePerson] = relationship(back_populates="name_keys")


class AssignmentStatus(StrEnum):
    offered = "offered"  # waiting for the station to accept or decline
    accepted = "accepted"
    declined = "declined"
    done = "done"
    revoked = "revoked"  # taken back by a coordinator


ACTIVE_ASSIGNMENT = (AssignmentStatus.offered, AssignmentStatus.accepted)


class StationAssignment(Model):
    __tablename__ = "station_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    station_id: Mapped[int] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    status: Mapped[AssignmentStatus] = mapped_column(
        _enum(AssignmentStatus), default=AssignmentStatus.offered, index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    instructions: Mapped[str | None] = mapped_column(EncryptedString())  # what the centre asks for
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decline_reason: Mapped[str | None] = mapped_column(EncryptedString())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="assignments")
    station: Mapped[ServiceStation] = relationship()


class ReferralTarget(StrEnum):
    mission = "mission"  # the embassy or consulate concerned
    police = "police"
    legal_aid = "legal_aid"  # legal-aid centre
    lawyer_team = "lawyer_team"
    other = "other"


class ReferralStatus(StrEnum):
    requested = "requested"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    completed = "completed"
    declined = "declined"


class Referral(TimestampMixin, Model):
    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    target: Mapped[ReferralTarget] = mapped_column(_enum(ReferralTarget))
    mission_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mission.id"))
    target_name: Mapped[str] = mapped_column(sa.String(200), default="")  # police station, law firm…
    status: Mapped[ReferralStatus] = mapped_column(
        _enum(ReferralStatus), default=ReferralStatus.requested
    )
    external_reference: Mapped[str] = mapped_column(sa.String(100), default="")
    note: Mapped[str | None] = mapped_column(EncryptedString())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    case: Mapped[Case] = relationship(back_populates="referrals")
    mission: Mapped[Mission | None] = relationship()


class TimelineKind(StrEnum):
    created = "created"
    status = "status"  # a lifecycle transition
    priority = "priority"
    edited = "edited"
    person = "person"
    assignment = "assignment"
    referral = "referral"
    note = "note"
    attachment = "attachment"
    link = "link"  # linked to / unlinked from an incident, duplicate noted
    escalation = "escalation"
    reply = "reply"  # an SMS reply from the person


class TimelineEntry(Model):
    __tablename__ = "timeline_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    kind: Mapped[TimelineKind] = mapped_column(_enum(TimelineKind))
    action: Mapped[str] = mapped_column(sa.String(40), default="")  # e.g. "triage", "accept"
    from_status: Mapped[str | None] = mapped_column(sa.String(30))
    to_status: Mapped[str | None] = mapped_column(sa.String(30))
    text: Mapped[str | None] = mapped_column(EncryptedString())  # a note or a reason, may be personal
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # never personal data

    case: Mapped[Case] = relationship(back_populates="timeline")
    actor: Mapped[User | None] = relationship()


class DuplicateState(StrEnum):
    open = "open"  # waiting for a coordinator to look
    same = "same"  # a coordinator confirmed: the same person and trouble
    different = "different"  # a coordinator found they are not


class PossibleDuplicate(Model):
    """A case logged while a similar one existed (same ID or passport number, phone, or name with
    the birth date or country): recorded whoever logged it and whether or not they may see the
    other case, so the coordination centre compares the two. Ids and reason codes only."""

    __tablename__ = "possible_duplicate"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "other_case_id"),
        sa.Index("ix_possible_duplicate_open_other", "other_case_id",
                 postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)  # the newer case
    other_case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"))  # the one it resembles
    reasons: Mapped[str] = mapped_column(sa.String(100), default="")  # comma-separated codes
    state: Mapped[DuplicateState] = mapped_column(_enum(DuplicateState, 10), default=DuplicateState.open)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    found_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(EncryptedString())  # why, in the coordinator's words

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    other_case: Mapped[Case] = relationship(foreign_keys=[other_case_id])
    found_by: Mapped[User | None] = relationship(foreign_keys=[found_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def reason_list(self) -> list[str]:
        return [r for r in self.reasons.split(",") if r]

    def other(self, case_id: int) -> Case:
        """The case on the other side of the link from ``case_id``."""
        return self.other_case if self.case_id == case_id else self.case


class Attachment(AttachmentColumns, Model):
    """A file kept outside the web root (``instance/attachments``), served only through scoped views."""

    __tablename__ = "attachment"

    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)

    case: Mapped[Case] = relationship(back_populates="attachments")


class CaseDraft(Model):
    """A half-filled "log a case" form, kept per user so a dropped connection loses nothing."""

    __tablename__ = "case_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    payload: Mapped[str] = mapped_column(EncryptedString())  # JSON of the form fields
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadlineKind(StrEnum):
    first_response = "first_response"
    assignment = "assignment"


class DeadlineBreach(Model):
    """A deadline missed: one row per (case, kind, due moment), so each breach is raised once."""

    __tablename__ = "deadline_breach"
    __table_args__ = (sa.UniqueConstraint("case_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    kind: Mapped[DeadlineKind] = mapped_column(_enum(DeadlineKind))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SmsState(StrEnum):
    none = "none"  # in-app only
    pending = "pending"
    claimed = "claimed"
    sent = "sent"
    failed = "failed"


class Notification(Model):
    """In-app notice for one user; with ``sms_state=pending`` the alerts dispatcher also texts it
    (the case side never imports the SMS machinery: it only writes this row)."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.Index("ix_notification_sms_due", "sms_state", "id",
                 postgresql_where=sa.text("sms_state = 'pending'"),
                 sqlite_where=sa.text("sms_state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))  # assigned, declined, escalation, status, …
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # no personal data
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_state: Mapped[SmsState] = mapped_column(_enum(SmsState, 10), default=SmsState.none)
    sms_attempts: Mapped[int] = mapped_column(default=0)
    sms_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_provider_id: Mapped[str | None] = mapped_column(sa.String(64))
    sms_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sms_error: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship()
    case: Mapped[Case | None] = relationship()
