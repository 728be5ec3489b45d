"""Typed options: one declaration per knob, from which the schema, --set, the record and docs/knobs.md follow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import options as opt
from harness.backends import backend_class, backend_names
from harness.errors import HarnessError
from harness.knobs import RunOptions
from harness.tools import knobs as knobs_tool
from models import get_model_class, model_names
from tests.conftest import ROOT, run_cli


@dataclass(frozen=True)
class Sample:
    count: int = opt.option(1, "a count", minimum=1)
    rate: float | None = opt.option(None, "a rate")
    mode: str = opt.option("a", "a mode", choices=("a", "b"))
    flag: bool = opt.option(False, "a flag")


def test_values_are_checked_strictly_and_parsed_from_text() -> None:
    fields = opt.schema(Sample)
    assert opt.build(Sample, {"count": 3, "rate": 2, "mode": "b", "flag": True}, "w") == Sample(3, 2.0, "b", True)
    assert fields["rate"].parse("null", "w") is None and fields["flag"].parse("off", "w") is False
    for name, value, needle in (("count", True, "an integer"), ("count", 0, ">= 1"), ("rate", "x", "a number"),
                                ("flag", 1, "true or false"), ("mode", "c", "'c' unknown")):
        with pytest.raises(HarnessError, match=needle):
            fields[name].check(value, "w")
    with pytest.raises(HarnessError, match="unknown key 'cuont' \\(did you mean 'count'\\?\\)"):
        opt.build(Sample, {"cuont": 2}, "w")


def test_run_knobs_are_never_shadowed_by_a_backend_or_model() -> None:
    run = set(opt.schema(RunOptions))
    for name in backend_names():
        assert not run & set(opt.schema(backend_class(name).Options)), name
    for name in model_names():
        assert not run & set(opt.schema(get_model_class(name).options)), name


def test_docs_knob_table_is_generated_from_the_code() -> None:
    assert (ROOT / "docs" / "knobs.md").read_text() == knobs_tool.markdown(), \
        "docs/knobs.md is stale: python -m harness knobs --markdown > docs/knobs.md"


def test_the_cli_is_one_table(workdir: Path) -> None:
    from harness.cli import COMMANDS

    listing = run_cli(["--help"], workdir)
    assert listing.returncode == 0 and all(name in listing.stdout for name in COMMANDS)
    wrong = run_cli(["serach"], workdir)
    assert wrong.returncode == 2 and "unknown command 'serach' (did you mean 'search'?)" in wrong.stderr
    knobs = run_cli(["knobs"], workdir)
    assert knobs.returncode == 0 and "backend torch" in knobs.stdout and "model bert" in knobs.stdout
