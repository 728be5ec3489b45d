"""The one schema of the history store, for SQLite and PostgreSQL alike (SQLAlchemy Core).

runs    one row per run record: its series (box, system, benchmark, scenario, mode, backend, precision,
        weights and dataset), the metrics regression checks read, and the whole run.json.
nights  one row per nightly run of a matrix on a box: when, which matrix, the machine state, the verdict.
meta    schema version.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1

metadata = MetaData()

nights = Table(
    "nights", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("box", String(200), nullable=False),
    Column("night", String(10), nullable=False),  # YYYY-MM-DD
    Column("started_at", String(40), nullable=False),
    Column("ended_at", String(40)),
    Column("matrix", Text, nullable=False),
    Column("machine_state", JSON, nullable=False),
    Column("exit_code", Integer),
    Column("summary", JSON),
    UniqueConstraint("box", "started_at", name="uq_nights_box_started"),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Identity of the run itself (system, benchmark, scenario, run id, start): the same run.json always
    # maps to the same uid, so importing it again is a no-op.
    Column("uid", String(64), nullable=False, unique=True),
    Column("series", Text, nullable=False, index=True),
    Column("box", String(200), nullable=False),
    Column("system", String(200), nullable=False),
    Column("model", String(100), nullable=False),
    Column("mlperf_model", String(100), nullable=False),
    Column("scenario", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("backend", String(50), nullable=False),
    Column("precision", String(20), nullable=False),
    Column("weights_key", String(200), nullable=False),
    Column("dataset_key", String(200), nullable=False),
    Column("engine_key", String(64), nullable=False),
    Column("run_id", String(100), nullable=False),
    Column("started_at", String(40), nullable=False, index=True),
    Column("ended_at", String(40)),
    Column("status", String(20), nullable=False),
    Column("valid", Boolean),
    Column("headline", Float),
    Column("headline_unit", String(40)),
    Column("p99_latency_ms", Float),
    Column("accuracy", Float),
    Column("accuracy_metric", String(40)),
    Column("accuracy_passed", Boolean),
    Column("accuracy_hash", String(64)),
    Column("energy_j_per_sample", Float),
    Column("throttle_s", Float),
    Column("samples", Integer),
    Column("git_commit", String(64)),
    Column("night_id", Integer, ForeignKey("nights.id"), index=True),
    Column("cell", Text),
    Column("attempt", Integer),
    Column("run_path", Text),
    Column("imported_at", String(40), nullable=False),
    Column("record", JSON, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)
