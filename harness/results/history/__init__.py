"""The history store: every run record of every box in one database, for nightly regression checks.

SQLite in the results folder by default (``results/history.sqlite``), or any database URL SQLAlchemy
speaks (``postgresql+psycopg://user@host/db`` for a fleet of boxes writing to one store). One schema
serves both (harness.results.history.schema); run.json stays the source of truth and a run is stored
once, however often it is imported.
"""

from harness.results.history.rows import RunRow, SeriesKey, row_from_record
from harness.results.history.store import DEFAULT_FILE, HistoryStore, ImportReport, open_store

__all__ = ["DEFAULT_FILE", "HistoryStore", "ImportReport", "RunRow", "SeriesKey", "open_store", "row_from_record"]
