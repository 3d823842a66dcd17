"""Shared column helpers for the typed models."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC, naive: every timestamp in the database is UTC (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)
