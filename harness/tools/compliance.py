"""`python -m harness compliance --model M --scenario S [--test TEST01 ...]`: the round's compliance tests.

Each test is a real LoadGen run in its own run folder (a child `harness run --compliance-test T`), with the
round's audit.config written into that folder for that run only, and the same settings as the cell's latest
complete performance run, which it is checked against. TEST01 also needs the cell's accuracy run (one is run
first when there is none). The verdicts (verify_performance.txt, verify_accuracy.txt, and TEST01 Part III's
scores when the responses differ) go into the test's run folder, with verification.json naming the runs they
were checked against; results/<system>/<model>/<Scenario>/compliance/<test>/ then holds what
MLCommons' run_verification scripts would have copied for the submission.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.common import say
from harness.errors import HarnessError
from harness.loadgen_settings import check_no_audit_config
from harness.results import compliance as verify
from harness.results import store
from harness.results.accuracy import ACCURACY_LOG
from harness.results.compliance import (
    BASELINE_ACCURACY,
    COMPLIANCE_ACCURACY,
    VERIFICATION,
    VERIFY_ACCURACY,
    VERIFY_PERFORMANCE,
)
from harness.results.record import STATUS_COMPLETE, RunRecord, now_iso
from harness.results.staging import implementation_differences
from harness.rules import ComplianceTest, Rules, load_rules, normalize_scenario
from harness.tools.args import run_arguments_of_spec
from harness.tools.child import run_child

# Flags of the performance run that a compliance run does not repeat (it sets them itself).
_NOT_REPLAYED = ("--mode", "--system", "--target-qps", "--compliance-test", "--strict", "--abort-when-behind")


@dataclass
class Cell:
    results_dir: Path
    system: str
    mlperf_model: str
    loadgen_name: str
    scenario: str

    def label(self) -> str:
        return f"{self.mlperf_model} {self.scenario} on system {self.system}"

    def latest(self, mode: str, compliance: str | None = None) -> RunRecord | None:
        return store.latest_complete(self.results_dir, self.system, self.mlperf_model, self.scenario, mode,
                                     compliance)

    def run_dir(self, record: RunRecord) -> Path:
        return store.scenario_dir(self.results_dir, self.system, self.mlperf_model, self.scenario) / "runs" / \
            record.run_id


def _cell(args: argparse.Namespace, rules: Rules) -> Cell:
    from harness.machine.host import detect_host
    from harness.system_configs import resolve_system
    from models import get_model_class

    model_cls = get_model_class(args.model)
    asked = args.model.strip().lower()
    mlperf_model = asked if asked in model_cls.mlperf_names else model_cls.mlperf_names[0]
    system = resolve_system(args.system, detect_host()).name if args.system == "auto" else args.system
    rules.model(model_cls.loadgen_name, model_cls.own_rules)
    return Cell(args.results_dir, system, mlperf_model, model_cls.loadgen_name, normalize_scenario(args.scenario))


def _tests(asked: list[str], rules: Rules, cell: Cell) -> list[ComplianceTest]:
    required = rules.required_tests(cell.loadgen_name)
    if not asked:
        return required
    tests = []
    for name in (n for item in asked for n in item.split(",") if n.strip()):
        test = rules.compliance_test(name)
        if test not in required:
            raise HarnessError(f"{test.name} is not a compliance test of {cell.mlperf_model} in {rules.round}",
                               "its tests: " + (", ".join(t.name for t in required) or "none"))
        tests.append(test)
    return tests


def _replay_flags(reference: RunRecord) -> list[str]:
    """The performance run's settings, for the compliance runs (same system, same expected QPS)."""
    flags = run_arguments_of_spec(reference.spec, skip=_NOT_REPLAYED)
    target_qps = (reference.loadgen.get("plan") or {}).get("target_qps")
    flags += ["--system", reference.system]
    if target_qps:
        flags += ["--target-qps", f"{float(target_qps):.10g}"]
    return flags


def _child(flags: list[str], cell: Cell, what: str) -> RunRecord:
    say(f"== {what}: python -m harness run {' '.join(flags)}")
    child = run_child(flags, cell.results_dir, capture=False)
    if child.run_dir is None or child.record is None:
        raise HarnessError(f"the {what} left no run record (exit {child.returncode})", "see its output above")
    record = RunRecord.from_dict(child.record)
    if record.status != STATUS_COMPLETE:
        raise HarnessError(f"the {what} did not complete ({record.status}: {record.error})",
                           f"see {child.run_dir}")
    return record


def _accuracy_reference(cell: Cell, reference: RunRecord, flags: list[str]) -> RunRecord:
    """The cell's latest accuracy run, when it ran what the performance run ran; else a new one."""
    found = cell.latest("accuracy")
    if found is not None:
        differs = implementation_differences(reference, found)
        if not differs:
            return found
        say(f"!! the latest accuracy run of {cell.label()} ({found.run_id}) ran {'; '.join(differs)}: TEST01 "
            "needs one of the performance run's implementation, so it runs first")
    else:
        say(f"!! no complete accuracy run of {cell.label()}: TEST01 compares against one, so it runs first")
    return _child([*flags, "--mode", "accuracy"], cell, "accuracy run")


def _part_three(cell: Cell, reference: RunRecord, acc_log: Path, test_log: Path) -> verify.PartThree:
    """Score both logs with the model's metric (the dataset opened as the performance run opened it)."""
    from harness.resolve import resolve
    from harness.tools.args import add_run_arguments, spec_from_args

    p = argparse.ArgumentParser()
    add_run_arguments(p)
    spec = spec_from_args(p.parse_args(_replay_flags(reference)))
    r = resolve(spec)
    dataset = r.model.open_dataset(r.data_dir, spec.preprocessed_dir)
    metrics = list(r.model_rules.accuracy_targets.get(cell.mlperf_model, {}))
    return verify.part_three(acc_log, test_log, lambda entries: r.model.evaluate(entries, dataset), metrics,
                             cell.mlperf_model)


def run_test(test: ComplianceTest, cell: Cell, reference: RunRecord) -> dict[str, Any]:
    """One compliance run, verified against the performance run (and TEST01's accuracy run)."""
    flags = _replay_flags(reference)
    accuracy_run = _accuracy_reference(cell, reference, flags) if test.checks_accuracy else None
    record = _child([*flags, "--compliance-test", test.name], cell, f"{test.name} run")
    run_dir, ref_dir = cell.run_dir(record), cell.run_dir(reference)
    performance = verify.verify_performance(test, ref_dir / "mlperf_log_summary.txt",
                                            run_dir / "mlperf_log_summary.txt")
    (run_dir / VERIFY_PERFORMANCE).write_text(performance.text())
    files = {VERIFY_PERFORMANCE: run_dir / VERIFY_PERFORMANCE,
             **{f"performance/run_1/{name}": run_dir / name for name in store.PERFORMANCE_FILES}}
    outcome: dict[str, Any] = {
        "test": test.name, "run_id": record.run_id, "verified_at": now_iso(),
        "reference_performance_run": reference.run_id,
        "reference_accuracy_run": accuracy_run.run_id if accuracy_run else None,
        "performance": {"passed": performance.passed, "verdict": performance.last_line, **performance.facts},
        "accuracy": None, "part_three": None}
    passed = performance.passed
    if accuracy_run is not None:
        acc_log, test_log = cell.run_dir(accuracy_run) / ACCURACY_LOG, run_dir / ACCURACY_LOG
        accuracy = verify.verify_accuracy(acc_log, test_log)
        (run_dir / VERIFY_ACCURACY).write_text(accuracy.text())
        files[VERIFY_ACCURACY] = run_dir / VERIFY_ACCURACY
        files[f"accuracy/{ACCURACY_LOG}"] = test_log
        outcome["accuracy"] = {"passed": accuracy.passed, "verdict": accuracy.last_line, **accuracy.facts}
        accuracy_ok = accuracy.passed
        if not accuracy.passed:
            say(f"!! {test.name}: {accuracy.last_line}; Part III: scoring both sets of responses")
            third = _part_three(cell, reference, acc_log, test_log)
            (run_dir / BASELINE_ACCURACY).write_text(third.baseline_report.rstrip() + "\n")
            (run_dir / COMPLIANCE_ACCURACY).write_text(third.compliance_report.rstrip() + "\n")
            (run_dir / "part_three.txt").write_text(third.verdict.text())
            files[f"accuracy/{BASELINE_ACCURACY}"] = run_dir / BASELINE_ACCURACY
            files[f"accuracy/{COMPLIANCE_ACCURACY}"] = run_dir / COMPLIANCE_ACCURACY
            outcome["part_three"] = {"passed": third.verdict.passed, "verdict": third.verdict.last_line,
                                     "baseline": third.baseline_report, "compliance": third.compliance_report}
            accuracy_ok = third.verdict.passed
        passed = passed and accuracy_ok
    outcome["passed"] = passed
    (run_dir / VERIFICATION).write_text(json.dumps(outcome, indent=2) + "\n")
    copy = store.publish_compliance(record, cell.results_dir, files)
    parts = [f"performance {performance.last_line}"]
    if outcome["accuracy"] is not None:
        parts.append(f"accuracy {outcome['accuracy']['verdict']}")
    if outcome["part_three"] is not None:
        parts.append(f"Part III {outcome['part_three']['verdict']}")
    say(f"== {test.name}: {'PASS' if passed else 'FAIL'} ({'; '.join(parts)})")
    say(f"   run dir: {run_dir}\n   submission copy: {copy}")
    return outcome


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness compliance",
                                description="run and verify the round's compliance tests of one model x scenario "
                                            "against its latest complete performance run")
    p.add_argument("--model", required=True, help="resnet50, retinanet, bert-99, bert-99.9, 3d-unet-99, ...")
    p.add_argument("--scenario", required=True, help="offline or server")
    p.add_argument("--test", action="append", default=[], metavar="TEST0x",
                   help="TEST01, TEST04 or TEST05 (repeatable or comma-separated; default: every test the round "
                        "requires for the model)")
    p.add_argument("--system", default="auto", help="the system the runs were made on (default: detect)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="where the runs are")
    p.add_argument("--rules", default="v4.1", help="MLPerf round whose compliance tests apply")
    p.add_argument("--even-if-invalid", action="store_true",
                   help="run the tests against an INVALID performance run (they fail, as MLCommons' scripts fail "
                        "them): to try the tools out")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    check_no_audit_config(Path.cwd())
    rules = load_rules(args.rules)
    cell = _cell(args, rules)
    tests = _tests(args.test, rules, cell)
    if not tests:
        say(f"{cell.mlperf_model} needs no compliance test in {rules.round}")
        return 0
    reference = cell.latest("performance")
    if reference is None:
        raise HarnessError(
            f"no complete performance run of {cell.label()} under {cell.results_dir}",
            f"run it first (python -m harness run --model {cell.mlperf_model} --scenario {cell.scenario.lower()} "
            f"--results-dir {cell.results_dir}): the compliance runs repeat its settings and are checked against it")
    if not reference.result.get("valid", False):
        why = (f"the latest performance run of {cell.label()} ({reference.run_id}) is INVALID, and every "
               "compliance test fails against an INVALID run")
        if not args.even_if_invalid:
            raise HarnessError(why, "make the performance run VALID first (its run page says why it is not), "
                                    "or pass --even-if-invalid to run the tests anyway")
        say(f"!! {why}: running them anyway (--even-if-invalid)")
    say(f"== compliance {', '.join(t.name for t in tests)} for {cell.label()}, against performance run "
        f"{reference.run_id}")
    outcomes = [run_test(test, cell, reference) for test in tests]
    failed = [o["test"] for o in outcomes if not o["passed"]]
    if failed:
        say(f"!! {', '.join(failed)} failed: see verify_*.txt in their run folders; a submission cannot include "
            "this cell until they pass")
        return 1
    say(f"== all {len(outcomes)} compliance test(s) passed")
    return 0

