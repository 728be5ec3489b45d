"""LoadGen settings for one run: the user.conf the harness writes, and the TestSettings built from it.

The embedded mlperf.conf is loaded by LoadGen itself on the single FromConfig call;
user.conf carries only what this run changes. The round's RNG seeds are assigned
on TestSettings afterwards (LoadGen reads seeds from the embedded conf only, and
the wheel's conf carries a newer round's seeds); TEST05 gets its own seeds the same way.
A compliance run's audit.config is written into its run folder (audit_config_text) and
handed to StartTest by path; the round's mlperf.conf, as a submission's measurements
carry it, is written from the rules (round_mlperf_conf).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg

from harness.errors import HarnessError
from harness.rules import ComplianceTest, ModelRules, Rules

_SCENARIOS = {"Offline": lg.TestScenario.Offline, "Server": lg.TestScenario.Server}
_MODES = {"performance": lg.TestMode.PerformanceOnly, "accuracy": lg.TestMode.AccuracyOnly}

# FromConfig may be called once per process: a second call makes LoadGen log
# error_invalid_config into the next run's detail log.
_from_config_calls = 0

AUDIT_CONFIG = "audit.config"


@dataclass(frozen=True)
class LoadGenPlan:
    """What this run asks of LoadGen beyond the embedded mlperf.conf."""

    loadgen_name: str
    scenario: str
    mode: str
    target_qps: float
    seeds: dict[str, int]
    min_duration_ms: int | None = None
    min_query_count: int | None = None
    performance_sample_count: int | None = None
    target_latency_ms: float | None = None
    run_length: str = "rules"
    # LoadGen issues every query already due in one IssueQuery call when the SUT falls behind.
    server_coalesce_queries: bool = False
    # The compliance test this run is (TEST01, TEST04, TEST05), if any.
    compliance_test: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_run(rules: Rules, model_rules: ModelRules, scenario: str, mode: str, target_qps: float,
             dataset_count: int, *, fast: bool = False, demo: bool = False,
             min_duration_ms: int | None = None, min_query_count: int | None = None,
             target_latency_ms: float | None = None, server_coalesce_queries: bool = False,
             compliance_test: str | None = None) -> LoadGenPlan:
    """Decide run length and overrides: rules by default, FAST=1 like NVIDIA's --test_run,
    short runs on demo data, explicit CLI values over all of them. A compliance test keeps all of
    that and may bring its own seeds (TEST05)."""
    run_length = "rules"
    duration, queries = None, None
    if fast:
        run_length = "fast"
        duration, queries = rules.fast_min_duration_ms, rules.fast_min_query_count
    elif demo:
        run_length = "demo"
        duration, queries = 10000, 1
    if min_duration_ms is not None:
        duration, run_length = min_duration_ms, "custom"
    if min_query_count is not None:
        queries, run_length = min_query_count, "custom"
    psc = None
    if dataset_count < model_rules.performance_sample_count:
        psc = dataset_count
    if target_qps <= 0:
        raise HarnessError(f"target QPS must be positive, got {target_qps}")
    if (scenario == "Server" and target_latency_ms is None and not model_rules.in_loadgen_conf
            and model_rules.server_target_latency_ms is not None):
        target_latency_ms = float(model_rules.server_target_latency_ms)  # the conf has no entry to read it from
    if target_latency_ms is not None and target_latency_ms <= 0:
        raise HarnessError(f"target latency must be positive, got {target_latency_ms} ms")
    if target_latency_ms is not None and target_latency_ns(target_latency_ms) < 1:
        raise HarnessError(f"target latency {target_latency_ms:g} ms is below LoadGen's resolution of 1 ns",
                           "give --target-latency-ms 0.000001 or more")
    if mode == "performance":
        _check_run_length(rules, model_rules, scenario, duration, queries)
    test = rules.compliance_test(compliance_test).name if compliance_test else None
    return LoadGenPlan(model_rules.loadgen_name, scenario, mode, float(target_qps), rules.seeds_for(test),
                       duration, queries, psc, target_latency_ms, run_length,
                       server_coalesce_queries and scenario == "Server", test)


def _check_run_length(rules: Rules, model_rules: ModelRules, scenario: str, duration_ms: int | None,
                      query_count: int | None) -> None:
    """LoadGen cannot run a performance test that may end before its first query (it crashes in
    Server and reports no result in Offline): refuse a zero minimum duration with a zero minimum
    query count."""
    rule_queries = model_rules.min_query_count(scenario)
    duration = rules.min_duration_ms if duration_ms is None else duration_ms
    queries = rule_queries if query_count is None else query_count
    if duration <= 0 and queries <= 0:
        raise HarnessError("a minimum duration of 0 ms with a minimum query count of 0 asks LoadGen for an empty "
                           "run, which it cannot measure",
                           "give --min-duration-ms a positive value (e.g. 1000) or --min-query-count one "
                           "(e.g. 100)")


def user_conf_text(plan: LoadGenPlan) -> str:
    key = f"{plan.loadgen_name}.{plan.scenario}"
    lines = [f"# user.conf for {plan.loadgen_name} {plan.scenario} ({plan.mode}), run length: {plan.run_length}",
             f"{key}.target_qps = {plan.target_qps:.6g}"]
    if plan.min_duration_ms is not None:
        lines.append(f"{key}.min_duration = {plan.min_duration_ms}")
    if plan.min_query_count is not None:
        lines.append(f"{key}.min_query_count = {plan.min_query_count}")
    if plan.performance_sample_count is not None:
        lines.append(f"{key}.performance_sample_count_override = {plan.performance_sample_count}")
    if plan.target_latency_ms is not None and plan.scenario == "Server":
        if float(plan.target_latency_ms).is_integer():
            lines.append(f"{key}.target_latency = {int(plan.target_latency_ms)}")
        else:  # user.conf holds whole milliseconds only
            lines.append(f"# {key}.target_latency = {plan.target_latency_ms:g} ms: set on TestSettings as "
                         f"server_target_latency_ns = {target_latency_ns(plan.target_latency_ms)}")
    if plan.server_coalesce_queries and plan.scenario == "Server":
        lines.append(f"{key}.coalesce_queries = 1")
    return "\n".join(lines) + "\n"


def make_test_settings(plan: LoadGenPlan, user_conf: Path) -> lg.TestSettings:
    global _from_config_calls
    if _from_config_calls:
        raise RuntimeError("LoadGen settings were already loaded in this process; run each test in its own "
                           "process (python -m harness run ...)")
    settings = lg.TestSettings()
    settings.scenario = _SCENARIOS[plan.scenario]
    rc = settings.FromConfig(str(user_conf), plan.loadgen_name, plan.scenario)
    _from_config_calls += 1
    if rc != 0:
        raise HarnessError(f"LoadGen rejected {user_conf} (code {rc})", "see mlperf_log_detail.txt")
    settings.mode = _MODES[plan.mode]
    settings.qsl_rng_seed = plan.seeds["qsl_rng_seed"]
    settings.sample_index_rng_seed = plan.seeds["sample_index_rng_seed"]
    settings.schedule_rng_seed = plan.seeds["schedule_rng_seed"]
    if plan.target_latency_ms is not None and plan.scenario == "Server":
        # In LoadGen's own unit: user.conf's target_latency is whole milliseconds (2.5 would become 2).
        settings.server_target_latency_ns = target_latency_ns(plan.target_latency_ms)
    return settings


def target_latency_ns(target_latency_ms: float) -> int:
    return int(round(target_latency_ms * 1e6))


def log_settings(outdir: Path, mode: str) -> lg.LogSettings:
    output = lg.LogOutputSettings()
    output.outdir = str(outdir)
    output.copy_summary_to_stdout = False
    output.copy_detail_to_stdout = False
    settings = lg.LogSettings()
    settings.log_output = output
    # Tracing costs throughput (Server fails at a third of the load with it on) and nothing reads it.
    settings.enable_trace = False
    return settings


def check_no_audit_config(workdir: Path) -> None:
    """LoadGen silently applies an audit.config found in the working directory."""
    found = workdir / AUDIT_CONFIG
    if found.exists():
        raise HarnessError(
            f"{found} exists: LoadGen would apply it and override this run's settings",
            "move it away; compliance runs place their own audit.config",
        )


def audit_config_text(rules: Rules, test: ComplianceTest, loadgen_name: str) -> str:
    """The audit.config of one compliance test for one model, in the round's key = value form."""
    lines = [f"# audit.config of {test.name} (MLPerf Inference {rules.round} compliance) for {loadgen_name},",
             f"# written from configs/rules/{rules.round}.yaml into this run's folder: LoadGen applies it to this",
             "# run only."]
    if test.seeds is not None:
        lines.append("# LoadGen 6.0.17 ignores test05 = 1: the harness sets the test's seeds on TestSettings.")
    lines += [f"*.*.{key} = {value}" for key, value in test.audit_settings(loadgen_name).items()]
    return "\n".join(lines) + "\n"


def _conf_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def round_mlperf_conf(rules: Rules) -> str:
    """The round's mlperf.conf for the models of the rules, as a submission's measurements carry it."""
    lines = [f"# MLPerf Inference {rules.round} LoadGen settings (mlperf.conf) for "
             + ", ".join(rules.models) + ",",
             f"# written from the harness's configs/rules/{rules.round}.yaml.", ""]
    extra = {key: _conf_value(value) for key, value in rules.mlperf_conf.items()}
    conf: dict[str, str] = {}
    for name, model in rules.models.items():
        conf[f"{name}.*.performance_sample_count_override"] = str(model.performance_sample_count)
    for key, value in rules.seeds.items():
        conf[f"*.*.{key}"] = str(value)
    for test in rules.compliance.values():
        for key, value in (test.seeds or {}).items():
            conf[f"*.*.{test.name.lower()}_{key}"] = str(value)
    for name, model in rules.models.items():
        if model.equal_issue:
            conf[f"{name}.*.sample_concatenate_permutation"] = "1"
    for scenario in ("Server", "Offline"):
        conf[f"*.{scenario}.min_duration"] = str(rules.min_duration_ms)
        for name, model in rules.models.items():
            if scenario not in model.scenarios:
                continue
            if scenario == "Server" and model.server_target_latency_ms is not None:
                conf[f"{name}.Server.target_latency"] = f"{model.server_target_latency_ms:g}"
            if scenario == "Offline":
                conf[f"{name}.Offline.min_query_count"] = str(model.offline_min_query_count)
    conf.update(extra)
    lines += [f"{key} = {value}" for key, value in conf.items()]
    return "\n".join(lines) + "\n"
