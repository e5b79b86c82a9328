"""Activities and risk points: what the network does besides cases (patrols, trainings, talks, drills,
joint meetings, with who took part, the patrol checklists, attachments and follow-up actions) and
the risks it identified, with their measures and the alerts and cases that arose from them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.attachments import AttachmentColumns
from consular.auth.models import User
from consular.db import EncryptedString, Model, TimestampMixin, UTCDateTime, utcnow
from consular.network.models import Division, LiaisonPoint, ServiceStation


def _enum(enum: type[StrEnum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum, native_enum=False, length=length, validate_strings=True)


class ActivityKind(StrEnum):
    patrol = "patrol"  # 巡查: the centre visits overseas stations, with a checklist per station
    training = "training"  # 培训班
    talk = "talk"  # 预防性领保宣讲
    drill = "drill"  # 应急演练
    joint_meeting = "joint_meeting"  # 联席会议


class Audience(StrEnum):
    """Who an activity was for."""

    liaison_officers = "liaison_officers"
    station_heads = "station_heads"
    centre_staff = "centre_staff"
    volunteers = "volunteers"
    residents = "residents"  # a community at home or abroad
    students = "students"
    employees = "employees"
    travellers = "travellers"
    officials = "officials"
    public = "public"


# A training (培训班) is for liaison officers, for station heads or for the centre's own staff.
TRAINING_AUDIENCES = (Audience.liaison_officers, Audience.station_heads, Audience.centre_staff)


class TalkSetting(StrEnum):
    """Where a preventive-safety talk was given."""

    community = "community"
    university = "university"
    enterprise = "enterprise"
    exhibition = "exhibition"
    cruise_ship = "cruise_ship"
    online = "online"


class PlaceKind(StrEnum):
    home = "home"  # a division of the city
    abroad = "abroad"  # a country and a city abroad
    station = "station"  # at an overseas station
    online = "online"


def _links(name: str, owner: str, column: str, target: str) -> sa.Table:
    """The table of links from an ``owner`` row to ``target`` rows: a link goes with its owner; the
    other side is indexed, to find the owners of a target."""
    return sa.Table(
        name, Model.metadata,
        sa.Column(f"{owner}_id", sa.ForeignKey(f"{owner}.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(column, sa.ForeignKey(f"{target}.id"), primary_key=True, index=True),
    )


activity_point = _links("activity_point", "activity", "point_id", "liaison_point")
activity_station = _links("activity_station", "activity", "station_id", "service_station")


class Activity(TimestampMixin, Model):
    """One patrol, training, talk, drill or joint meeting, logged once it was held."""

    __tablename__ = "activity"
    __table_args__ = (
        sa.CheckConstraint("head_count >= 0", name="head_count_positive"),
        sa.Index("ix_activity_kind_held_on", "kind", "held_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ActivityKind] = mapped_column(_enum(ActivityKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    held_on: Mapped[date] = mapped_column(sa.Date, index=True)
    place_kind: Mapped[PlaceKind] = mapped_column(_enum(PlaceKind))
    division_id: Mapped[int | None] = mapped_column(sa.ForeignKey("division.id"))
    country_code: Mapped[str | None] = mapped_column(sa.String(2))
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    organiser: Mapped[str] = mapped_column(sa.String(200), default="")
    audience: Mapped[Audience] = mapped_column(_enum(Audience, 30))
    setting: Mapped[TalkSetting | None] = mapped_column(_enum(TalkSetting))
    head_count: Mapped[int] = mapped_column(default=0)
    notes: Mapped[str | None] = mapped_column(EncryptedString())
    # The Exercise alert a drill sent (alerts' table; the alerts side fills in its reach).
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"), index=True)
    # Who logged it: a liaison officer's point, a volunteer's station, or neither (the centre).
    owner_point_id: Mapped[int | None] = mapped_column(sa.ForeignKey("liaison_point.id"), index=True)
    owner_station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"),
                                                         index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    division: Mapped[Division | None] = relationship()
    station: Mapped[ServiceStation | None] = relationship(foreign_keys=[station_id])
    owner_point: Mapped[LiaisonPoint | None] = relationship(foreign_keys=[owner_point_id])
    owner_station: Mapped[ServiceStation | None] = relationship(foreign_keys=[owner_station_id])
    created_by: Mapped[User | None] = relationship()
    points: Mapped[list[LiaisonPoint]] = relationship(secondary=activity_point,
                                                      order_by=LiaisonPoint.name)
    stations: Mapped[list[ServiceStation]] = relationship(secondary=activity_station,
                                                          order_by=ServiceStation.name)
    checks: Mapped[list[PatrolCheck]] = relationship(back_populates="activity",
                                                     order_by="PatrolCheck.id")
    attachments: Mapped[list[ActivityAttachment]] = relationship(
        back_populates="activity", order_by="ActivityAttachment.id")
    follow_ups: Mapped[list[FollowUp]] = relationship(back_populates="activity",
                                                      order_by="FollowUp.id")


class PatrolCheck(Model):
    """A patrol's checklist for one station it visited."""

    __tablename__ = "patrol_check"
    __table_args__ = (sa.UniqueConstraint("activity_id", "station_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id", ondelete="CASCADE"))
    station_id: Mapped[int] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    contacts_verified: Mapped[bool] = mapped_column(default=False)
    volunteers_active: Mapped[bool] = mapped_column(default=False)
    materials_on_hand: Mapped[bool] = mapped_column(default=False)
    problems: Mapped[str | None] = mapped_column(EncryptedString())  # what was found, in words
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="checks")
    station: Mapped[ServiceStation] = relationship()


class ActivityAttachment(AttachmentColumns, Model):
    """A sign-in sheet, photo or slides of an activity (``consular.attachments``: sealed at rest,
    served only through scoped views)."""

    __tablename__ = "activity_attachment"

    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"), index=True)

    activity: Mapped[Activity] = relationship(back_populates="attachments")


class ActionColumns:
    """The columns of an action someone is to take (an activity's follow-up, a risk's measure):
    its id (first), what, who does it, by when and when it was done. The owning table adds the key
    of what the action is for."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)
    action: Mapped[str] = mapped_column(sa.String(300))
    owner: Mapped[str] = mapped_column(sa.String(120))
    due_on: Mapped[date] = mapped_column(sa.Date)
    done_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FollowUp(ActionColumns, Model):
    """An action an activity left to do, with who does it and by when."""

    __tablename__ = "activity_follow_up"

    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activity.id"), index=True)

    activity: Mapped[Activity] = relationship(back_populates="follow_ups")


# --- risk points --------------------------------------------------------------------------------


class RiskKind(StrEnum):
    place = "place"
    employer = "employer"  # an employer or a sector abroad
    route = "route"
    season = "season"
    scam = "scam"
    other = "other"


class RiskLevel(StrEnum):
    low = "low"  # 一般
    medium = "medium"  # 较大
    high = "high"  # 重大


class RiskState(StrEnum):
    reported = "reported"  # a station reported it; the centre has not accepted it yet
    open = "open"  # in the register
    declined = "declined"  # the centre did not take it into the register
    closed = "closed"  # the risk has passed or its measures are done


# Risk points the register counts: those the centre accepted.
REGISTERED_STATES = (RiskState.open, RiskState.closed)


class MeasureState(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    done = "done"


risk_point_station = _links("risk_point_station", "risk_point", "station_id", "service_station")
risk_point_alert = _links("risk_point_alert", "risk_point", "alert_id", "alert")
risk_point_case = _links("risk_point_case", "risk_point", "case_id", "case_file")


class RiskPoint(TimestampMixin, Model):
    """An identified risk (风险点): a place, an employer or sector abroad, a route, a season, a scam."""

    __tablename__ = "risk_point"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[RiskKind] = mapped_column(_enum(RiskKind))
    level: Mapped[RiskLevel] = mapped_column(_enum(RiskLevel))
    description: Mapped[str | None] = mapped_column(EncryptedString())
    found_on: Mapped[date] = mapped_column(sa.Date, index=True)
    state: Mapped[RiskState] = mapped_column(_enum(RiskState), index=True)
    country_codes: Mapped[str] = mapped_column(sa.String(200), default="")  # comma-separated
    reported_by_station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"),
                                                               index=True)
    reported_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(sa.String(500), default="")

    reported_by_station: Mapped[ServiceStation | None] = relationship(
        foreign_keys=[reported_by_station_id])
    reported_by: Mapped[User | None] = relationship(foreign_keys=[reported_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    stations: Mapped[list[ServiceStation]] = relationship(secondary=risk_point_station,
                                                          order_by=ServiceStation.name)
    measures: Mapped[list[RiskMeasure]] = relationship(back_populates="risk_point",
                                                       order_by="RiskMeasure.id")

    @property
    def country_list(self) -> list[str]:
        return [code for code in self.country_codes.split(",") if code]


class RiskMeasure(ActionColumns, Model):
    """A measure (措施) taken against a risk point: who, by when, and how far it is."""

    __tablename__ = "risk_measure"

    risk_point_id: Mapped[int] = mapped_column(sa.ForeignKey("risk_point.id"), index=True)
    state: Mapped[MeasureState] = mapped_column(_enum(MeasureState), default=MeasureState.planned)

    risk_point: Mapped[RiskPoint] = relationship(back_populates="measures")
