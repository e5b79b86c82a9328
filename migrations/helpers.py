"""The schema operations the revisions in ``versions/`` share, named by the models' conventions.

A revision calls these as they are when it runs, on any database from any earlier revision. So a
change here must leave what every existing revision does exactly as it was: the migrated schema of
each revision, step by step up and down (tests/integration/test_migrations.py). Put a new need in a
new function rather than changing what an old one emits.

Names follow the models' MetaData convention (``pk_<table>``, ``fk_<table>_<column>_<referred>``,
``uq_<table>_<first column>``, ``ix_<table>_<column>``) and are passed as final names (``op.f``),
as Alembic's autogenerate writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
"""A 64-bit key on PostgreSQL that is still SQLite's auto-incrementing rowid."""


@dataclass(frozen=True)
class Index:
    """An index with a name of its own (not the convention's), maybe partial (``where``)."""

    name: str
    columns: tuple[str, ...]
    where: str | None = None

    def dialect_options(self) -> dict[str, Any]:
        if self.where is None:
            return {}
        return {'postgresql_where': sa.text(self.where), 'sqlite_where': sa.text(self.where)}


def index(name: str, *columns: str, where: str | None = None) -> Index:
    return Index(name, columns, where)


IndexSpec = str | Index
"""A column name (a one-column index named ``ix_<table>_<column>``) or an :class:`Index`."""


def _index_name(table: str, spec: IndexSpec) -> str:
    return spec.name if isinstance(spec, Index) else op.f(f'ix_{table}_{spec}')


def _create_index(batch_op: Any, table: str, spec: IndexSpec) -> None:
    if isinstance(spec, Index):
        batch_op.create_index(spec.name, list(spec.columns), unique=False, **spec.dialect_options())
    else:
        batch_op.create_index(_index_name(table, spec), [spec], unique=False)


def _drop_index(batch_op: Any, table: str, spec: IndexSpec) -> None:
    options = spec.dialect_options() if isinstance(spec, Index) else {}
    batch_op.drop_index(_index_name(table, spec), **options)


def create_indexes(table: str, indexes: Iterable[IndexSpec]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for spec in indexes:
            _create_index(batch_op, table, spec)


def drop_indexes(table: str, indexes: Sequence[IndexSpec]) -> None:
    """Drop ``indexes`` (as given to :func:`create_indexes`), the last created first."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for spec in reversed(indexes):
            _drop_index(batch_op, table, spec)


def create_table(name: str, *items: Any, indexes: Sequence[IndexSpec] = ()) -> None:
    """``op.create_table`` (columns and constraints), then its indexes."""
    op.create_table(name, *items)
    if indexes:
        create_indexes(name, indexes)


def create_table_with_id(name: str, *items: Any, indexes: Sequence[IndexSpec] = ()) -> None:
    """:func:`create_table` for a table keyed by its own Integer ``id``: ``id`` is its first column
    and its primary key, named by the convention."""
    create_table(name, id_column(), *items, pk(name), indexes=indexes)


def create_table_with_big_id(name: str, *items: Any, indexes: Sequence[IndexSpec] = ()) -> None:
    """:func:`create_table_with_id` for a table that may outgrow 32 bits: its ``id`` is a
    :data:`BigId`."""
    create_table(name, id_column(BigId), *items, pk(name), indexes=indexes)



def create_table_keyed_by(name: str, key: sa.Column[Any], *items: Any,
                          indexes: Sequence[IndexSpec] = ()) -> None:
    """:func:`create_table` for a table keyed by a column of its own meaning (a name, a year, a
    session id): ``key`` is its first column and its primary key, named by the convention."""
    create_table(name, key, *items, pk(name, key.name), indexes=indexes)

def create_link_table(name: str, owner: tuple[str, str], other: tuple[str, str],
                      indexes: Sequence[IndexSpec] = ()) -> None:
    """A table of pairs linking a row of ``owner`` to rows of ``other`` (each ``(column, table)``):
    both columns are its key, and a pair goes with its owner (ON DELETE CASCADE)."""
    (owner_column, owner_table), (other_column, other_table) = owner, other
    keys = sorted([(owner_column, fk(name, owner_column, owner_table, ondelete='CASCADE')),
                   (other_column, fk(name, other_column, other_table))], key=lambda key: key[0])
    create_table(name,
                 sa.Column(owner_column, sa.Integer(), nullable=False),
                 sa.Column(other_column, sa.Integer(), nullable=False),
                 *(constraint for _column, constraint in keys),
                 pk(name, owner_column, other_column),
                 indexes=indexes)



def create_attachment_table(name: str, owner: tuple[str, str], indexes: Sequence[IndexSpec] = ()) -> None:
    """A table of files uploaded to a row of ``owner`` (``(column, table)``), each kept sealed on
    disk under its own storage key."""
    owner_column, owner_table = owner
    create_table_with_id(name,
                         sa.Column(owner_column, sa.Integer(), nullable=False),
                         *stored_file_columns(),
                         *foreign_keys(name, **{owner_column: owner_table, 'uploaded_by_id': 'user_account'}),
                         unique(name, 'storage_key'),
                         indexes=indexes)


def create_action_table(name: str, owner: tuple[str, str], *state: sa.Column[Any],
                        indexes: Sequence[IndexSpec] = ()) -> None:
    """A table of actions someone owns (:func:`action_columns`, with their ``state`` if they have
    one), each taken for a row of ``owner`` (``(column, table)``)."""
    owner_column, owner_table = owner
    create_table_with_id(name,
                         sa.Column(owner_column, sa.Integer(), nullable=False),
                         *action_columns(*state),
                         fk(name, owner_column, owner_table),
                         indexes=indexes)

def drop_table(name: str, indexes: Sequence[IndexSpec] = ()) -> None:
    """The reverse of :func:`create_table` given the same indexes."""
    if indexes:
        drop_indexes(name, indexes)
    op.drop_table(name)


def drop_tables(tables: Sequence[str], indexes: dict[str, Sequence[IndexSpec]]) -> None:
    """Drop ``tables`` (in the order they were created) the last first, each with its indexes."""
    for table in reversed(tables):
        drop_table(table, indexes.get(table, ()))


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns ``names`` (in the order they were added) the last first."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in reversed(names):
            batch_op.drop_column(name)



def extend_table(table: str, *columns: sa.Column[Any], foreign_keys: dict[str, str] | None = None,
                 indexes: Sequence[IndexSpec] = ()) -> None:
    """Add ``columns`` to ``table`` in one batch, with a foreign key for each
    ``column: referred_table`` of ``foreign_keys`` (named by the convention) and ``indexes``."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)
        for column_name, referred in (foreign_keys or {}).items():
            batch_op.create_foreign_key(_fk_name(table, column_name, referred), referred,
                                        [column_name], ['id'])
        for spec in indexes:
            _create_index(batch_op, table, spec)


def shrink_table(table: str, *names: str, foreign_keys: dict[str, str] | None = None,
                 indexes: Sequence[IndexSpec] = ()) -> None:
    """The reverse of :func:`extend_table` given the columns' names and the same keys and indexes:
    in one batch, the indexes, the keys and the columns go, each the last added first."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for spec in reversed(indexes):
            _drop_index(batch_op, table, spec)
        for column_name, referred in reversed((foreign_keys or {}).items()):
            batch_op.drop_constraint(_fk_name(table, column_name, referred), type_='foreignkey')
        for name in reversed(names):
            batch_op.drop_column(name)

def drop_server_defaults(table: str, *names: str) -> None:
    """A default given only to fill the rows already there when a column was added: the models
    give every new row its value."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.alter_column(name, server_default=None)


def required(name: str, type_: Any, **options: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=False, **options)


def optional(name: str, type_: Any, **options: Any) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=True, **options)



def required_strings(**lengths: int) -> list[sa.Column[Any]]:
    """A required ``String`` column for each ``name=length``, in the order given."""
    return [sa.Column(name, sa.String(length=length), nullable=False) for name, length in lengths.items()]


def optional_strings(**lengths: int) -> list[sa.Column[Any]]:
    """An optional (nullable) ``String`` column for each ``name=length``, in the order given."""
    return [sa.Column(name, sa.String(length=length), nullable=True) for name, length in lengths.items()]


def required_columns(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """A required column of ``type_`` for each of ``names``, in the order given."""
    return [sa.Column(name, type_, nullable=False) for name in names]


def optional_columns(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """An optional (nullable) column of ``type_`` for each of ``names``, in the order given."""
    return [sa.Column(name, type_, nullable=True) for name in names]

def id_column(type_: Any = None) -> sa.Column[Any]:
    return sa.Column('id', sa.Integer() if type_ is None else type_, nullable=False)


def timestamps() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """``created_at`` and ``updated_at``, as every model with a history of edits has them."""
    return (sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False))


def stored_file_columns() -> tuple[sa.Column[Any], ...]:
    """The columns of an uploaded file kept sealed on disk (a case's or an activity's)."""
    return (
        sa.Column('filename', sa.Text(), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=80), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    )


def cap_info_columns() -> tuple[sa.Column[Any], ...]:
    """An alert's CAP classification, as an alert and the template it may come from hold it: the
    category, the event, how urgent, severe and certain it is, and the language written first."""
    return (
        sa.Column('category', enum('capcategory', 'Geo', 'Met', 'Safety', 'Security', 'Rescue', 'Fire',
                                   'Health', 'Env', 'Transport', 'Infra', 'CBRNE', 'Other', length=10),
                  nullable=False),
        sa.Column('event', sa.String(length=120), nullable=False),
        sa.Column('urgency', enum('capurgency', 'Immediate', 'Expected', 'Future', 'Past', 'Unknown',
                                  length=10), nullable=False),
        sa.Column('severity', enum('capseverity', 'Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown',
                                   length=10), nullable=False),
        sa.Column('certainty', enum('capcertainty', 'Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown',
                                    length=10), nullable=False),
        sa.Column('base_language', sa.String(length=10), nullable=False),
    )



def names(length: int) -> tuple[sa.Column[Any], sa.Column[Any]]:
    """``name`` and ``name_en``, the name in the office's language and in English."""
    return (sa.Column('name', sa.String(length=length), nullable=False),
            sa.Column('name_en', sa.String(length=length), nullable=False))


def country_and_city(country_required: bool = True) -> tuple[sa.Column[Any], sa.Column[Any]]:
    """``country_code`` (ISO 3166 alpha-2) and ``city``, where something is or happens."""
    return (sa.Column('country_code', sa.String(length=2), nullable=not country_required),
            sa.Column('city', sa.String(length=120), nullable=False))


def sealed_with_hash(name: str, required: bool = False) -> tuple[sa.Column[Any], sa.Column[Any]]:
    """A sealed (encrypted) value, ``name``, and ``<name>_hash``, its keyed hash to find it by."""
    return (sa.Column(name, sa.Text(), nullable=not required),
            sa.Column(f'{name}_hash', sa.String(length=64), nullable=not required))


def area_columns() -> tuple[sa.Column[Any], ...]:
    """The area a hazard or an alert covers beyond its place: a circle (``latitude``,
    ``longitude``, ``radius_km``) or a ``polygon``."""
    return (sa.Column('latitude', sa.Float(), nullable=True),
            sa.Column('longitude', sa.Float(), nullable=True),
            sa.Column('radius_km', sa.Float(), nullable=True),
            sa.Column('polygon', sa.Text(), nullable=True))


def action_columns(*state: sa.Column[Any]) -> tuple[sa.Column[Any], ...]:
    """An action someone owns (a risk point's measure, an activity's follow-up): what, who, by
    when, its ``state`` if it has one, when it was done and when it was written down."""
    return (sa.Column('action', sa.String(length=300), nullable=False),
            sa.Column('owner', sa.String(length=120), nullable=False),
            sa.Column('due_on', sa.Date(), nullable=False),
            *state,
            sa.Column('done_on', sa.Date(), nullable=True),
            sa.Column('created_at', sa.DateTime(timezone=True), nullable=False))


def message_text_columns() -> tuple[sa.Column[Any], ...]:
    """An alert's words in one language, as an alert and a template hold them."""
    return (sa.Column('headline', sa.String(length=160), nullable=False),
            sa.Column('body', sa.Text(), nullable=False),
            sa.Column('instruction', sa.Text(), nullable=False))


def lease_columns() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """Which worker claimed a row of an outbox and until when its claim holds."""
    return (sa.Column('claimed_by', sa.String(length=120), nullable=True),
            sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))

def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*(columns or ('id',)), name=op.f(f'pk_{table}'))


def _fk_name(table: str, column: str, referred: str) -> str:
    return op.f(f'fk_{table}_{column}_{referred}')


def fk(table: str, column: str, referred: str, **options: Any) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{referred}.id'], name=_fk_name(table, column, referred),
                                   **options)


def foreign_keys(table: str, **referred: str) -> list[sa.ForeignKeyConstraint]:
    """One :func:`fk` for each ``column=referred_table``, in the order given."""
    return [fk(table, column, target) for column, target in referred.items()]


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f'uq_{table}_{columns[0]}'))


def enum(name: str, *values: str, length: int) -> sa.Enum:
    """An enumeration stored as a string column checked by nothing but the application."""
    return sa.Enum(*values, name=name, native_enum=False, length=length)
