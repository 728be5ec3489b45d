"""The history store itself: open (and create) it, import run folders, read series back.

Every write is one transaction: an import that fails half-way stores nothing of that import, and a run
already stored (same uid) is skipped, so importing the same folders again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from harness.errors import HarnessError
from harness.results.history import schema
from harness.results.history.rows import BadRunFolder, RunRow, read_run_folder, row_from_record
from harness.results.record import now_iso

DEFAULT_FILE = "history.sqlite"
RUN_FOLDERS = "*/*/*/runs/*"
# The history database URL when --store is not given (a fleet points every box at one PostgreSQL).
STORE_ENV = "HARNESS_HISTORY_URL"


@dataclass
class ImportReport:
    added: list[RunRow] = field(default_factory=list)
    already: list[RunRow] = field(default_factory=list)
    bad: list[BadRunFolder] = field(default_factory=list)


def database_url(url: str | None, results_dir: Path) -> str:
    """A SQLAlchemy URL: the given one (``postgresql://`` means psycopg 3; a plain path means a SQLite
    file), or results/history.sqlite."""
    if not url:
        return f"sqlite:///{Path(results_dir).resolve() / DEFAULT_FILE}"
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


class HistoryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    # -- plumbing -------------------------------------------------------------
    @contextmanager
    def _begin(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise HarnessError(f"history store {self.url}: {what} failed: {_first_line(exc)}",
                               "check that the database is up and reachable; nothing of this step was stored "
                               "(run folders stay on disk: `python -m harness history import` catches up)") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- runs -----------------------------------------------------------------
    def add_rows(self, rows: Iterable[RunRow]) -> tuple[list[RunRow], list[RunRow]]:
        """Store rows not stored yet (by uid), in one transaction: (added, already there). A row that
        was there without a night gets this row's night, cell and attempt."""
        added, already = [], []
        with self._begin("storing runs") as conn:
            for row in rows:
                existing = conn.execute(select(schema.runs.c.id, schema.runs.c.night_id)
                                        .where(schema.runs.c.uid == row.uid)).first()
                if existing is None:
                    values = {**row.values(), "imported_at": now_iso()}
                    row.id = _new_id(conn.execute(insert(schema.runs).values(values)).inserted_primary_key)
                    added.append(row)
                    continue
                row.id = existing.id
                if existing.night_id is None and row.night_id is not None:
                    conn.execute(update(schema.runs).where(schema.runs.c.id == existing.id)
                                 .values(night_id=row.night_id, cell=row.cell, attempt=row.attempt))
                already.append(row)
        return added, already

    def import_folders(self, run_dirs: Iterable[Path], box: str, night_id: int | None = None,
                       cell: str | None = None, attempt: int | None = None) -> ImportReport:
        report = ImportReport()
        rows = []
        for run_dir in run_dirs:
            try:
                record = read_run_folder(run_dir)
            except BadRunFolder as bad:
                report.bad.append(bad)
                continue
            row = row_from_record(record, box, str(Path(run_dir).resolve()))
            row.night_id, row.cell, row.attempt = night_id, cell, attempt
            rows.append(row)
        report.added, report.already = self.add_rows(rows)
        return report

    def import_results(self, results_dir: Path, box: str) -> ImportReport:
        """Every run folder under a results tree (results/<system>/<benchmark>/<Scenario>/runs/<id>/)."""
        folders = sorted(p for p in Path(results_dir).glob(RUN_FOLDERS) if p.is_dir())
        return self.import_folders(folders, box)

    def series_rows(self, series: str, before: str | None = None) -> list[RunRow]:
        """Runs of one series, oldest first (only those started before ``before``, when given)."""
        query = select(schema.runs).where(schema.runs.c.series == series)
        if before is not None:
            query = query.where(schema.runs.c.started_at < before)
        with self._begin("reading a series") as conn:
            found = conn.execute(query.order_by(schema.runs.c.started_at, schema.runs.c.id)).mappings().all()
        return [RunRow.from_mapping(m) for m in found]

    def series(self, box: str | None = None) -> list[str]:
        query = select(schema.runs.c.series).distinct()
        if box is not None:
            query = query.where(schema.runs.c.box == box)
        with self._begin("listing series") as conn:
            return sorted(conn.execute(query).scalars().all())

    def count(self) -> int:
        with self._begin("counting runs") as conn:
            return int(conn.execute(select(func.count()).select_from(schema.runs)).scalar_one())

    # -- nights ---------------------------------------------------------------
    def add_night(self, box: str, night: str, matrix: str, machine_state: dict[str, Any],
                  started_at: str | None = None) -> int:
        with self._begin("recording the night") as conn:
            result = conn.execute(insert(schema.nights).values(box=box, night=night, started_at=started_at or now_iso(),
                                                               matrix=matrix, machine_state=machine_state))
            return _new_id(result.inserted_primary_key)

    def finish_night(self, night_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        with self._begin("recording the night's verdict") as conn:
            conn.execute(update(schema.nights).where(schema.nights.c.id == night_id)
                         .values(exit_code=exit_code, summary=summary, ended_at=now_iso()))

    def previous_night(self, box: str, night_id: int) -> dict[str, Any] | None:
        """The latest earlier night of the same box: id, night, machine_state."""
        with self._begin("reading the previous night") as conn:
            found = conn.execute(select(schema.nights.c.id, schema.nights.c.night, schema.nights.c.machine_state)
                                 .where(schema.nights.c.box == box, schema.nights.c.id < night_id)
                                 .order_by(schema.nights.c.id.desc()).limit(1)).first()
        return None if found is None else {"id": found.id, "night": found.night,
                                           "machine_state": dict(found.machine_state or {})}

    def nights_by_id(self, night_ids: Iterable[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """Night id -> (the night's date, its machine state)."""
        ids = sorted(set(night_ids))
        if not ids:
            return {}
        with self._begin("reading nights") as conn:
            found = conn.execute(select(schema.nights.c.id, schema.nights.c.night, schema.nights.c.machine_state)
                                 .where(schema.nights.c.id.in_(ids))).all()
        return {int(r.id): (str(r.night), dict(r.machine_state or {})) for r in found}


def _new_id(key: Any) -> int:
    if key is None:
        raise HarnessError("the history store returned no id for a new row")
    return int(key[0])


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_store(url: str | None, results_dir: Path) -> HistoryStore:
    """Connect (creating the tables when the store is new); a store that cannot be reached, or was
    written by a newer schema, is a HarnessError before anything runs."""
    full = database_url(url, results_dir)
    where = shown(full)
    try:
        parsed = make_url(full)
    except ArgumentError as exc:
        raise HarnessError(f"history store URL {url!r} is not a database URL ({exc})",
                           "use e.g. postgresql://user@host:5432/mlperf, or sqlite:///path/history.sqlite") from None
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 10
    elif parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        with engine.begin() as conn:
            schema.metadata.create_all(conn)
            stored = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema")).scalar()
            if stored is None:
                conn.execute(insert(schema.meta).values(key="schema", value=str(schema.SCHEMA_VERSION)))
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise HarnessError(f"history store {where}: no driver for this kind of database ({exc})",
                           "use postgresql://... (psycopg 3 is installed) or sqlite:///...") from None
    except SQLAlchemyError as exc:
        raise HarnessError(f"history store {where} cannot be reached: {_first_line(exc)}",
                           "check the URL, that the server is up and accepts this user; nothing was run or "
                           "stored") from None
    if stored is not None and int(stored) > schema.SCHEMA_VERSION:
        engine.dispose()
        raise HarnessError(f"history store {where} has schema {stored}, newer than this harness's "
                           f"{schema.SCHEMA_VERSION}", "update the harness (git pull) on this box")
    return HistoryStore(engine)
