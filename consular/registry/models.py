"""Registrants: the people who receive alerts, with their consent and their reachability.

The phone number and the name are sealed at rest; ``phone_hash`` (a keyed hash of the E.164
number) finds a registration by number and keeps one current registration per number. Everything
targeting needs (country, city, zone, language, kind, stay dates, status) is plain and indexed, so
an alert's fan-out is one ``INSERT … SELECT``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.db import EncryptedString, Model, TimestampMixin, UTCDateTime, utcnow
from consular.network.models import LiaisonPoint, ServiceStation


def _enum(enum: type[StrEnum], length: int = 30) -> sa.Enum:
    return sa.Enum(enum, native_enum=False, length=length, validate_strings=True)


class RegistrantKind(StrEnum):
    citizen_abroad = "citizen_abroad"
    family_at_home = "family_at_home"
    foreign_resident = "foreign_resident"  # a foreign national living in the city
    student = "student"  # studying abroad
    enterprise_staff = "enterprise_staff"  # staff of the city's enterprises abroad


class RegistrantStatus(StrEnum):
    active = "active"
    opted_out = "opted_out"  # replied STOP (or was unsubscribed at the provider)
    invalid_number = "invalid_number"  # the provider said the number cannot receive SMS


class ConsentMethod(StrEnum):
    written = "written"  # signed form at a liaison point or station
    verbal = "verbal"  # by phone, recorded by the officer
    sms = "sms"  # replied START / registered by SMS
    online = "online"
    imported = "imported"  # came with a CSV list whose consent is recorded elsewhere


class ContactChannel(StrEnum):
    """How a registrant can be reached. SMS is covered by the registration's own consent; WhatsApp
    and voice calls each need their own (``Registrant.whatsapp_consent_at``, ``voice_consent_at``)."""

    sms = "sms"
    whatsapp = "whatsapp"
    voice = "voice"


DEFAULT_CHANNELS = ContactChannel.sms.value


def channel_order(value: str | None) -> list[ContactChannel]:
    """A registrant's channels in the order they are tried (unknown or repeated names dropped;
    nothing readable: SMS)."""
    order: list[ContactChannel] = []
    for name in (value or "").split(","):
        name = name.strip().lower()
        if name in ContactChannel.__members__ and ContactChannel(name) not in order:
            order.append(ContactChannel(name))
    return order or [ContactChannel.sms]


REACHABLE = "status = 'active' AND ended_at IS NULL"  # the partial index's condition



def _consent_flag(moment: str) -> Any:
    """Consent to a channel beyond SMS, as a flag (forms and the API) kept as the moment named
    ``moment``: giving it keeps the moment it was first given; withdrawing it clears the moment."""

    def given(registrant: Any) -> bool:
        return getattr(registrant, moment) is not None

    def give(registrant: Any, yes: bool) -> None:
        setattr(registrant, moment, (getattr(registrant, moment) or utcnow()) if yes else None)

    return property(given, give)


class Registrant(TimestampMixin, Model):
    __tablename__ = "registrant"
    __table_args__ = (
        sa.Index("ix_registrant_target", "status", "country_code", "language"),
        # Geographic aim: the bounding-box prefilter of a circle or polygon reads this index.
        sa.Index("ix_registrant_location", "latitude", "longitude"),
        # Who can be reached, by place: counting the people in an area reads this index alone.
        sa.Index("ix_registrant_reachable_location", "latitude", "longitude",
                 postgresql_where=sa.text(REACHABLE), sqlite_where=sa.text(REACHABLE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RegistrantKind] = mapped_column(_enum(RegistrantKind), default=RegistrantKind.citizen_abroad)
    name: Mapped[str | None] = mapped_column(EncryptedString())
    phone: Mapped[str] = mapped_column(EncryptedString())  # E.164
    phone_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    # Keyed hash of the name: exact-match search ("王伟" finds 王伟, not 王伟明); names stay sealed.
    name_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Equals phone_hash while the registration is current, NULL once ended (erased, lapsed):
    # a unique column that allows one current registration per number.
    current_phone_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    language: Mapped[str] = mapped_column(sa.String(10), default="zh_Hans")  # an SMS locale
    country_code: Mapped[str] = mapped_column(sa.String(2))
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64))  # IANA; derived from the city or chosen
    liaison_point_id: Mapped[int | None] = mapped_column(sa.ForeignKey("liaison_point.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    stay_from: Mapped[date | None] = mapped_column(sa.Date)
    stay_until: Mapped[date | None] = mapped_column(sa.Date)
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consent_method: Mapped[ConsentMethod] = mapped_column(_enum(ConsentMethod))
    consent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    consent_note: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[RegistrantStatus] = mapped_column(
        _enum(RegistrantStatus), default=RegistrantStatus.active
    )
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_reason: Mapped[str] = mapped_column(sa.String(120), default="")  # e.g. "21211 invalid To"
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    import_batch: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # erased or lapsed
    ended_reason: Mapped[str] = mapped_column(sa.String(40), default="")  # END_REASONS or retention
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # personal data wiped
    legal_hold: Mapped[bool] = mapped_column(default=False)
    # Where the person is, for geographic aim (degrees, WGS84): the city's coordinates from the
    # city index, filled whenever the country or city is set (``locate_registrant``), unless an
    # explicit location was given (``location_explicit``). None: the city is not in the index.
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    location_explicit: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The channels to reach this person, in the order the person or an officer chose ("whatsapp,sms"),
    # and the consent to each channel beyond SMS (None: not given). Dispatch uses the first channel
    # with consent (``first_channel``); SMS, covered by the registration's consent, always has it.
    channels: Mapped[str] = mapped_column(sa.String(40), default=DEFAULT_CHANNELS,
                                          server_default=DEFAULT_CHANNELS)
    whatsapp_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voice_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    liaison_point: Mapped[LiaisonPoint | None] = relationship()
    station: Mapped[ServiceStation | None] = relationship()

    @property
    def is_current(self) -> bool:
        return self.ended_at is None

    @property
    def channel_list(self) -> list[ContactChannel]:
        return channel_order(self.channels)

    whatsapp_consent = _consent_flag("whatsapp_consent_at")
    voice_consent = _consent_flag("voice_consent_at")


def first_channel(channels: str | None, whatsapp_consent: bool, voice_consent: bool) -> ContactChannel:
    """The first channel of ``channels`` the person consented to (SMS when none of them)."""
    allowed = {ContactChannel.sms: True, ContactChannel.whatsapp: whatsapp_consent,
               ContactChannel.voice: voice_consent}
    for channel in channel_order(channels):
        if allowed[channel]:
            return channel
    return ContactChannel.sms


class ImportState(StrEnum):
    previewed = "previewed"  # checked; waiting for the user to confirm
    imported = "imported"
    discarded = "discarded"  # discarded by the uploader, or not confirmed within a day


class RegistrantImport(Model):
    """One uploaded list of registrants: kept (sealed) between the preview and the confirmation,
    so any web process can finish it; after the import only the counts stay. Registrants it
    created carry its ``batch`` in ``Registrant.import_batch``."""

    __tablename__ = "registrant_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    state: Mapped[ImportState] = mapped_column(_enum(ImportState, 12), default=ImportState.previewed)
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(default=0)
    content: Mapped[str | None] = mapped_column(EncryptedString())  # base64 of the file; None after
    defaults: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    rows: Mapped[int] = mapped_column(default=0)
    imported_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)  # already registered / repeated in the file
    refused_count: Mapped[int] = mapped_column(default=0)  # rows with errors
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def locate_registrant(registrant: Registrant) -> None:
    """Place ``registrant`` at its city's coordinates (city index), unless it has an explicit
    location; clears the place when the city is unknown."""
    if registrant.location_explicit and registrant.latitude is not None:
        return
    from consular.registry.places import coordinates_of

    found = coordinates_of(registrant.country_code or "", registrant.city or "")
    registrant.latitude, registrant.longitude = found if found is not None else (None, None)


@sa.event.listens_for(Registrant, "before_insert")
def _locate_new(_mapper: Any, _connection: Any, target: Registrant) -> None:
    if target.latitude is None:
        locate_registrant(target)


@sa.event.listens_for(Registrant, "before_update")
def _locate_moved(_mapper: Any, _connection: Any, target: Registrant) -> None:
    state = sa.inspect(target)
    if state.attrs.country_code.history.has_changes() or state.attrs.city.history.has_changes():
        locate_registrant(target)
