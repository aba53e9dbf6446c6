"""Declarative base, naming convention and column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column, registry
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can address them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Amounts of money. Ten decimal places: a few tokens at a per-million price are
# fractions of a cent.
MONEY = Numeric(18, 10)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always stored and returned as timezone-aware UTC.

    SQLite has no time zones; without this, values read back would be naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def check_in(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint limiting ``column`` to ``values``."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


# The largest id any table holds: INTEGER columns end at 2^31 - 1 on PostgreSQL.
MAX_ID = 2**31 - 1


def fk_id(table: str, *, ondelete: str = "CASCADE", **column: Any) -> MappedColumn[Any]:
    """A column referencing ``table.id``. Rows go when their target goes, unless
    ``ondelete="SET NULL"`` keeps them (the column is then nullable)."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete=ondelete), **column)


def choice_checks(**columns: tuple[str, ...]) -> tuple[CheckConstraint, ...]:
    """CHECK constraints limiting each column to its values, each named after its column."""
    return tuple(CheckConstraint(check_in(column, values), name=column)
                 for column, values in columns.items())


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )
