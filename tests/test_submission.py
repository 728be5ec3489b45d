"""A submission tree staged from short demo runs (resnet50 Offline and Server, null backend, with compliance),
judged by MLCommons' own v4.1 checker, truncation script and run_verification scripts; and the bad input."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.loadgen_settings import round_mlperf_conf
from harness.machine.description import REQUIRED_FIELDS
from harness.results import submission_tree as tree
from harness.results.compliance import read_verification
from harness.rules import load_rules
from tests.conftest import run_cli, run_records
from tests.mlperf_tools import checker_lines, run_checker, run_script, run_verification, tools_dir

pytestmark = pytest.mark.slow

ORG = "Acme"
RULES = load_rules("v4.1")
DEMO = ["--model", "resnet50", "--backend", "null", "--demo", "--demo-samples", "32"]
# Short VALID runs: Offline issues 200k samples at once, Server 3000 queries at 2000/s (~1.5 s).
RUNS = {"offline": ["--min-duration-ms", "0", "--min-query-count", "200000", "--target-qps", "1000"],
        "server": ["--min-duration-ms", "0", "--min-query-count", "3000", "--target-qps", "2000"]}
# What the checker must say of a demo tree, and nothing else: 32 demo samples, 0 s runs (too few queries for
# early stopping once a query of a loaded machine misses the bound), random accuracy, and what follows from
# those (the result has issues, so the benchmark lacks its scenarios).
DEMO_COMPLAINTS = [r"performance_sample_count, found 32, needs to be >= 1024",
                   r"Test duration less than 600s in user config",
                   r"Early stopping condition was not met, msg= \* Run unsuccessful\.  \* Processed \d+ queries",
                   r"accuracy not valid", r"/performance/run_1 has issues", r"compliance dir \S+ has issues",
                   r"does not have all required scenarios", r"NoResults ", r"SUMMARY: submission has errors"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("submission")
    work, results = root / "work", root / "results"
    work.mkdir()
    for scenario, args in RUNS.items():
        for _ in range(3):  # a loaded machine can push a short Server run over its bound: compliance needs VALID
            run_cli(["run", *DEMO, "--scenario", scenario, *args, "--results-dir", str(results)], cwd=work,
                    check=True)
            if run_records(results)[-1]["result"]["valid"]:
                break
    compliance = {}
    for scenario in RUNS:
        proc = run_cli(["compliance", "--model", "resnet50", "--scenario", scenario, "--results-dir", str(results),
                        "--even-if-invalid"], cwd=work)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: a demo run missed a bound
        compliance[scenario] = proc
    systems = results / "systems" / "cpu.json"
    desc = json.loads(systems.read_text())
    desc.update(host_memory_configuration="2x 4 GiB", cooling="air", host_processor_interconnect="N/A")
    systems.write_text(json.dumps(desc, indent=2))
    out = root / "tree"
    staged = run_cli(["submission", "--submitter", ORG, "--results-dir", str(results), "--out", str(out),
                      "--with-failed-compliance"], cwd=work)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    verdicts = {}
    for record in run_records(results):
        if record["compliance"]:
            run_dir = results / "cpu" / "resnet50" / record["scenario"] / "runs" / record["run_id"]
            verdicts[(record["scenario"], record["compliance"])] = (run_dir, read_verification(run_dir))
    return {"root": root, "work": work, "results": results, "out": out, "staged": staged, "verdicts": verdicts,
            "compliance": compliance, "base": out / "closed" / ORG}


def test_checker_complains_only_about_the_demo(demo: dict[str, Any]) -> None:
    proc = run_checker(demo["out"], ORG, demo["root"] / "summary.csv")
    errors = checker_lines(proc, "ERROR")
    failed = {(s, t) for (s, t), (_, v) in demo["verdicts"].items() if not v["passed"]}
    unexpected = []
    for line in errors:
        match = re.search(r"Compliance test performance check in \S+/(Offline|Server)/(TEST0\d) failed", line)
        if match:  # the harness said so too
            assert (match.group(1), match.group(2)) in failed, line
        elif not any(re.search(pattern, line) for pattern in DEMO_COMPLAINTS):
            unexpected.append(line)
    assert not unexpected, "\n".join(unexpected)
    warnings = checker_lines(proc, "WARNING")
    assert warnings and all("accuracy not met: expected=75.695400" in w for w in warnings), warnings
    # It read every part of the tree: both results, every compliance test, TEST05 with its own seeds.
    for scenario in ("Offline", "Server"):
        assert any(f"results/cpu/resnet50/{scenario}/accuracy, accuracy not valid" in e for e in errors)
        for test in ("TEST01", "TEST04", "TEST05"):
            assert any(f"compliance/cpu/resnet50/{scenario}/{test}/performance/run_1" in e for e in errors)
    assert not any("seed" in e for e in errors)


def test_official_run_verification_agrees(demo: dict[str, Any], tmp_path: Path) -> None:
    assert len(demo["verdicts"]) == 6
    for (scenario, test), (run_dir, verification) in sorted(demo["verdicts"].items()):
        cwd = tmp_path / f"{scenario}-{test}"
        cwd.mkdir()
        official = run_verification(test, demo["results"] / "cpu" / "resnet50" / scenario, run_dir, cwd / "out", cwd)
        ours = {"performance": verification["performance"]["passed"]}
        if verification["accuracy"] is not None:
            ours["accuracy"] = verification["accuracy"]["passed"]
        assert official == ours, (scenario, test, verification)
    # Every TEST01 run repeated the accuracy run's responses (the null backend answers zeros).
    assert all(v["accuracy"]["passed"] for (_, t), (_, v) in demo["verdicts"].items() if t == "TEST01")


def test_tree_holds_what_the_checker_lists(demo: dict[str, Any]) -> None:
    base, full = demo["base"], Path(str(demo["out"]) + "_full_accuracy_logs") / "closed" / ORG
    for scenario in ("Offline", "Server"):
        cell = base / "results" / "cpu" / "resnet50" / scenario
        assert sorted(p.name for p in (cell / "performance" / "run_1").iterdir()) == [
            "mlperf_log_detail.txt", "mlperf_log_summary.txt"]
        assert sorted(p.name for p in (cell / "accuracy").iterdir()) == [
            "accuracy.txt", "mlperf_log_accuracy.json", "mlperf_log_detail.txt", "mlperf_log_summary.txt"]
        whole = full / "results" / "cpu" / "resnet50" / scenario / "accuracy" / "mlperf_log_accuracy.json"
        hashes = [line for line in (cell / "accuracy" / "accuracy.txt").read_text().splitlines()
                  if line.startswith("hash=")]
        assert hashes == [f"hash={hashlib.sha256(whole.read_bytes()).hexdigest()}"]
        test01 = base / "compliance" / "cpu" / "resnet50" / scenario / "TEST01" / "accuracy"
        assert (test01 / "mlperf_log_accuracy.json").stat().st_size <= 10 * 1024
        measurements = base / "measurements" / "cpu" / "resnet50" / scenario
        assert sorted(p.name for p in measurements.iterdir()) == [
            "README.md", f"cpu_null_{scenario}.json", "mlperf.conf", "user.conf"]
        readme = (measurements / "README.md").read_text()
        assert "python -m harness run --model resnet50" in readme and "python -m harness compliance" in readme
        assert (base / "compliance" / "cpu" / "resnet50" / scenario / "TEST05" / "verify_performance.txt").is_file()
    assert (base / "code" / "resnet50" / "null" / "README.md").is_file()
    desc = json.loads((base / "systems" / "cpu.json").read_text())
    assert all(key in desc for key in REQUIRED_FIELDS) and desc["submitter"] == ORG and desc["division"] == "closed"
    assert desc["framework"].startswith("none (null backend")
    assert "cpu/resnet50/Offline" in (demo["out"] / tree.REPORT).read_text()
    assert not (demo["work"] / "systems").exists() and not (demo["work"] / "audit.config").exists()


def test_compliance_runs_carry_the_tests_settings(demo: dict[str, Any]) -> None:
    test05_seeds = RULES.compliance_test("TEST05").seeds or {}
    for (_, test), (run_dir, _) in demo["verdicts"].items():
        detail = (run_dir / "mlperf_log_detail.txt").read_text()
        assert "Found Audit Config file (audit.config)" in detail
        assert (run_dir / "audit.config").read_text().startswith(f"# audit.config of {test}")
        if test == "TEST05":
            for key, seed in test05_seeds.items():
                assert f'"key": "effective_{key}", "value": {seed},' in detail
        if test == "TEST04":
            assert '"key": "effective_performance_issue_same", "value": true' in detail
        if test == "TEST01":
            assert '"key": "effective_accuracy_log_sampling_target", "value": 4096' in detail
    # compliance runs never stand for the cell's performance run
    published = demo["results"] / "cpu" / "resnet50" / "Offline" / "performance" / "run_1" / "mlperf_log_detail.txt"
    assert "Found Audit Config file" not in published.read_text()


def test_pages_keep_compliance_runs_out_of_the_results(demo: dict[str, Any]) -> None:
    index = (demo["results"] / "index.html").read_text()
    assert "-performance/run.html" in index and "-TEST0" not in index
    summary = (demo["results"] / "cpu" / "summary.html").read_text()
    assert "-TEST0" not in summary


def test_part_three_when_responses_differ(results_copy: Path, tmp_path: Path) -> None:
    """TEST01 against an accuracy run whose responses differ: both sets scored with the model's metric."""
    (accuracy_run,) = _run_dirs(results_copy, "Server", "accuracy")
    log = accuracy_run / "mlperf_log_accuracy.json"
    entries = json.loads(log.read_text())
    for entry in entries[::2]:
        entry["data"] = "E7030000"  # class 999 where the null backend answers 0
    log.write_text(json.dumps(entries))
    shutil.copyfile(log, results_copy / "cpu" / "resnet50" / "Server" / "accuracy" / "mlperf_log_accuracy.json")
    proc = run_cli(["compliance", "--model", "resnet50", "--scenario", "server", "--test", "TEST01",
                    "--results-dir", str(results_copy), "--even-if-invalid"], cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "Part III: scoring both sets of responses" in proc.stdout
    run_dir = _run_dirs(results_copy, "Server", "TEST01")[-1]
    verification = read_verification(run_dir)
    assert verification is not None and verification["accuracy"]["passed"] is False
    assert verification["part_three"]["baseline"].startswith("accuracy=")
    assert (run_dir / "baseline_accuracy.txt").read_text().startswith("accuracy=")
    assert (run_dir / "compliance_accuracy.txt").read_text().startswith("accuracy=")
    copy = results_copy / "cpu" / "resnet50" / "Server" / "compliance" / "TEST01" / "accuracy"
    assert sorted(p.name for p in copy.iterdir()) == ["baseline_accuracy.txt", "compliance_accuracy.txt",
                                                       "mlperf_log_accuracy.json"]
    official = run_verification("TEST01", results_copy / "cpu" / "resnet50" / "Server", run_dir, tmp_path / "out",
                                tmp_path)
    assert official["accuracy"] is False
    assert official["performance"] is verification["performance"]["passed"]


def test_framework_names_the_backend() -> None:
    from harness.machine.probe import NULL_FRAMEWORK, framework_of

    assert framework_of("null") == NULL_FRAMEWORK
    assert framework_of("onnxruntime").startswith("ONNX Runtime ")
    assert framework_of("torch").startswith("PyTorch")


def test_truncation_is_mlcommons(demo: dict[str, Any], tmp_path: Path) -> None:
    """Our tree equals what truncate_accuracy_log.py makes of it with the whole logs and no hash lines."""
    untruncated = tmp_path / "in"
    shutil.copytree(demo["out"], untruncated)
    full = Path(str(demo["out"]) + "_full_accuracy_logs")
    for log in full.rglob("mlperf_log_accuracy.json"):
        target = untruncated / log.relative_to(full)
        shutil.copyfile(log, target)
        txt = target.parent / "accuracy.txt"
        kept = [line for line in txt.read_text().splitlines(keepends=True) if not line.startswith("hash=")]
        txt.unlink() if not kept else txt.write_text("".join(kept))
    proc = run_script(tools_dir() / "tools" / "submission" / "truncate_accuracy_log.py", "--input", str(untruncated),
                      "--output", str(tmp_path / "out"), "--submitter", ORG)
    assert proc.returncode == 0, proc.stderr
    theirs = tmp_path / "out" / "closed" / ORG
    files = sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(demo["base"]) for p in demo["base"].rglob("*") if p.is_file())
    for name in files:
        assert (theirs / name).read_bytes() == (demo["base"] / name).read_bytes(), name


def _checker_module() -> Any:
    folder = tools_dir() / "tools" / "submission"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("v41_submission_checker", folder / "submission_checker.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_accuracy_targets_and_fields_are_the_checkers() -> None:
    checker = _checker_module()
    config = checker.MODEL_CONFIG["v4.1"]
    for model in RULES.models.values():
        for mlperf_model, targets in model.accuracy_targets.items():
            theirs = config["accuracy-target"][config["model_mapping"].get(mlperf_model, mlperf_model)]
            assert targets == dict(zip(theirs[::2], theirs[1::2], strict=True)), mlperf_model
            assert model.performance_sample_count == config["performance-sample-count"][
                config["model_mapping"].get(mlperf_model, mlperf_model)]
    assert RULES.seeds == config["seeds"] and RULES.compliance_test("TEST05").seeds == config["test05_seeds"]
    assert set(REQUIRED_FIELDS) == set(checker.SYSTEM_DESC_REQUIRED_FIELDS)


def test_mlperf_conf_is_the_rounds() -> None:
    def pairs(text: str) -> dict[str, float]:
        out = {}
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            if "=" in line:
                key, value = (p.strip() for p in line.split("=", 1))
                out[key] = float(value)
        return out

    ours = pairs(round_mlperf_conf(RULES))
    official = pairs((tools_dir() / "mlperf.conf").read_text())
    relevant = {k: v for k, v in official.items()
                if k.split(".")[0] in ("*", *RULES.models) and k.split(".")[1] in ("*", "Offline", "Server")
                and not k.endswith(("use_token_latencies", "ttft_latency", "tpot_latency"))}
    assert ours == relevant


# Bad input: each on a copy of the demo results, staged in-process.
def _request(results: Path, out: Path, **kw: Any) -> tree.Request:
    return tree.Request(results_dir=results, out=out, submitter=ORG, rules=RULES, **kw)


@pytest.fixture
def results_copy(demo: dict[str, Any], tmp_path: Path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(demo["results"], copy)
    return copy


def _run_dirs(results: Path, scenario: str, suffix: str) -> list[Path]:
    return sorted((results / "cpu" / "resnet50" / scenario / "runs").glob(f"*-{suffix}"))


def test_refuses_a_non_empty_folder_unless_merging(demo: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "tree"
    (out / "closed").mkdir(parents=True)
    (out / "closed" / "mine.txt").write_text("keep me")
    proc = run_cli(["submission", "--submitter", ORG, "--results-dir", str(demo["results"]), "--out", str(out)],
                   cwd=tmp_path)
    assert proc.returncode == 2 and "is not empty: nothing was staged" in proc.stderr and "--merge" in proc.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["closed", "mine.txt"]
    shutil.copytree(demo["out"], tmp_path / "again")
    report = tree.stage(_request(demo["results"], tmp_path / "again", merge=True, with_failed_compliance=True))
    assert "closed/Acme/results/cpu/resnet50/Server" in report.replaced
    assert "closed/Acme/systems/cpu.json" in report.replaced


def test_refuses_a_cell_without_accuracy_run(results_copy: Path, tmp_path: Path) -> None:
    for run in _run_dirs(results_copy, "Server", "accuracy"):
        shutil.rmtree(run)
    report = tree.stage(_request(results_copy, tmp_path / "tree", with_failed_compliance=True))
    (refused,) = report.refused
    assert refused.name == "cpu/resnet50/Server" and "no complete accuracy run" in refused.problems[0]
    assert report.missing == ["cpu/resnet50/Server"] and not report.complete
    assert not (tmp_path / "tree" / "closed" / ORG / "results" / "cpu" / "resnet50" / "Server").exists()
    assert "NOT COMPLETE" in (tmp_path / "tree" / tree.REPORT).read_text()


def test_refuses_an_accuracy_run_missing_a_loadgen_log(results_copy: Path, tmp_path: Path) -> None:
    (accuracy_run,) = _run_dirs(results_copy, "Offline", "accuracy")
    (accuracy_run / "mlperf_log_detail.txt").unlink()
    report = tree.stage(_request(results_copy, tmp_path / "tree", with_failed_compliance=True))
    (refused,) = report.refused
    assert refused.name == "cpu/resnet50/Offline" and "lacks mlperf_log_detail.txt" in refused.problems[0]


def test_refuses_an_accuracy_run_of_another_implementation(results_copy: Path, tmp_path: Path) -> None:
    (accuracy_run,) = _run_dirs(results_copy, "Offline", "accuracy")
    record = json.loads((accuracy_run / "run.json").read_text())
    record["backend"]["name"] = "onnxruntime"
    (accuracy_run / "run.json").write_text(json.dumps(record))
    report = tree.stage(_request(results_copy, tmp_path / "tree", with_failed_compliance=True))
    (refused,) = report.refused
    assert refused.name == "cpu/resnet50/Offline"
    assert "ran backend onnxruntime instead of the performance run's null" in refused.problems[0]


def test_refuses_incomplete_and_failed_cells(results_copy: Path, tmp_path: Path) -> None:
    (_run_dirs(results_copy, "Offline", "performance")[-1] / "INCOMPLETE").write_text("interrupted\n")
    for run in _run_dirs(results_copy, "Server", "TEST04"):
        verification = json.loads((run / "verification.json").read_text())
        verification.update(passed=False, performance={"passed": False, "verdict": "TEST FAIL: made up"})
        (run / "verification.json").write_text(json.dumps(verification))
    with pytest.raises(HarnessError, match="no cell can be staged") as caught:
        tree.stage(_request(results_copy, tmp_path / "tree"))
    text = str(caught.value)
    assert "cpu/resnet50/Offline: no complete performance run" in text
    assert "TEST04 failed its check (TEST FAIL: made up" in text
    assert not (tmp_path / "tree").exists()


def test_refuses_a_systems_file_missing_fields(results_copy: Path, tmp_path: Path) -> None:
    path = results_copy / "systems" / "cpu.json"
    desc = json.loads(path.read_text())
    del desc["cooling"]
    desc["host_memory_capacity"] = ""
    path.write_text(json.dumps(desc))
    proc = run_cli(["submission", "--submitter", ORG, "--results-dir", str(results_copy), "--out",
                    str(tmp_path / "tree"), "--with-failed-compliance"], cwd=tmp_path)
    assert proc.returncode == 2 and "nothing was staged" in proc.stderr
    assert "missing fields: cooling" in proc.stderr and "fields that need a value: host_memory_capacity" in proc.stderr
    assert not (tmp_path / "tree").exists() and not (tmp_path / "tree_full_accuracy_logs").exists()
