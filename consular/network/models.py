"""Network models: administrative divisions, liaison points, service stations, missions, the centre."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from consular.db import Model, TimestampMixin, UTCDateTime
from consular.network.names import place_name


class NamedInLanguages:
    """A place named in several languages: ``name`` (Simplified Chinese), ``name_en`` (English) and
    ``names`` (the other languages, by locale), each at most ``name_length`` characters (a keyword
    of the class: ``class Mission(NamedInLanguages, …, name_length=200)``), after its ``id`` and
    before the table's other columns. ``name_in`` picks one (``consular.network.names``)."""

    name_length: ClassVar[int]

    def __init_subclass__(cls, *, name_length: int, **kw: Any) -> None:
        cls.name_length = name_length
        super().__init_subclass__(**kw)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)

    @declared_attr
    def name(cls) -> Mapped[str]:
        return mapped_column(sa.String(cls.name_length), sort_order=-1)

    @declared_attr
    def name_en(cls) -> Mapped[str]:
        return mapped_column(sa.String(cls.name_length), default="", sort_order=-1)

    @declared_attr
    def names(cls) -> Mapped[dict[str, str]]:
        # Other languages → name: {"it": "Punto di assistenza di Prato", "zh_Hant": "…"}.
        return mapped_column(sa.JSON, default=dict, sort_order=-1)

    def name_in(self, locale: str | None) -> str:
        return place_name(self, locale)  # type: ignore[arg-type]  # name and name_en are columns


class DivisionLevel(StrEnum):
    county = "county"  # county / district (区/县/县级市)
    township = "township"  # township / town / street office (乡/镇/街道)
    village = "village"  # village / community (村/社区)


class Division(TimestampMixin, Model):
    __tablename__ = "division"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    level: Mapped[DivisionLevel] = mapped_column(sa.Enum(DivisionLevel, native_enum=False, length=20))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("division.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)  # merged or renamed divisions stay on record

    parent: Mapped[Division | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Division]] = relationship(back_populates="parent")
    liaison_points: Mapped[list[LiaisonPoint]] = relationship(back_populates="division")

    def label(self, locale: str = "zh") -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name


class LiaisonPoint(NamedInLanguages, TimestampMixin, Model, name_length=120):
    __tablename__ = "liaison_point"

    division_id: Mapped[int] = mapped_column(sa.ForeignKey("division.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    active: Mapped[bool] = mapped_column(default=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    division: Mapped[Division] = relationship(back_populates="liaison_points")


class HostKind(StrEnum):
    community_association = "community_association"
    chamber_of_commerce = "chamber_of_commerce"
    student_association = "student_association"
    enterprise = "enterprise"
    other = "other"


class ServiceStation(NamedInLanguages, TimestampMixin, Model, name_length=160):
    __tablename__ = "service_station"

    country_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    city: Mapped[str] = mapped_column(sa.String(120))
    host_organisation: Mapped[str] = mapped_column(sa.String(200))
    host_kind: Mapped[HostKind] = mapped_column(
        sa.Enum(HostKind, native_enum=False, length=40), default=HostKind.community_association
    )
    timezone: Mapped[str] = mapped_column(sa.String(64))
    languages: Mapped[str] = mapped_column(sa.String(100), default="zh")  # comma-separated codes
    contact_name: Mapped[str] = mapped_column(sa.String(120), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(32), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def language_list(self) -> list[str]:
        return [code for code in self.languages.split(",") if code]


class MissionKind(StrEnum):
    embassy = "embassy"
    consulate_general = "consulate_general"
    consulate = "consulate"


class Mission(NamedInLanguages, TimestampMixin, Model, name_length=200):
    __tablename__ = "mission"

    kind: Mapped[MissionKind] = mapped_column(sa.Enum(MissionKind, native_enum=False, length=30))
    country_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    city: Mapped[str] = mapped_column(sa.String(120))
    emergency_phone: Mapped[str] = mapped_column(sa.String(32))
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)


class CoordinationCentre(NamedInLanguages, TimestampMixin, Model, name_length=200):
    """The city's coordination centre; one row."""

    __tablename__ = "coordination_centre"

    city: Mapped[str] = mapped_column(sa.String(120))
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    hotline_24h: Mapped[str] = mapped_column(sa.String(32), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
