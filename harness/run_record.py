"""The run record of one run as it starts: what was asked, what was resolved, and whether it can count."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from harness import loadgen_settings
from harness.backends import BackendInfo
from harness.machine import description
from harness.resolve import ResolvedRun
from harness.results.record import RunRecord, git_state, software_versions, this_host
from models.base import Dataset


def comparability(r: ResolvedRun, plan: loadgen_settings.LoadGenPlan) -> dict[str, Any]:
    """Whether the run could stand in a submission, and every reason it cannot."""
    reasons = []
    if r.demo:
        reasons.append("demo data")
    if r.model.uses_random_weights and r.backend_name != "null":
        reasons.append("random weights")
    if r.backend_name == "null":
        reasons.append("null backend (no inference)")
    reasons += r.model.not_comparable_because()
    if plan.mode == "performance":
        if plan.min_duration_ms is not None and plan.min_duration_ms < r.rules.min_duration_ms:
            reasons.append(f"min duration {plan.min_duration_ms} ms < {r.rules.min_duration_ms} ms of the rules")
        rule_queries = r.model_rules.min_query_count(plan.scenario)
        if plan.min_query_count is not None and plan.min_query_count < rule_queries:
            reasons.append(f"min query count {plan.min_query_count} < {rule_queries} of the rules")
    if plan.performance_sample_count is not None:
        reasons.append(f"performance sample count {plan.performance_sample_count} < "
                       f"{r.model_rules.performance_sample_count} of the rules")
    if (plan.target_latency_ms is not None and plan.scenario == "Server"
            and plan.target_latency_ms != r.model_rules.server_target_latency_ms):
        reasons.append(f"latency bound {plan.target_latency_ms:g} ms instead of "
                       f"{r.model_rules.server_target_latency_ms:g} ms")
    return {"submission_grade": not reasons, "reasons": reasons}


def new_record(r: ResolvedRun, dataset: Dataset, info: BackendInfo, measured_qps: float | None,
               plan: loadgen_settings.LoadGenPlan, run_id: str) -> RunRecord:
    s = r.spec
    record = RunRecord(run_id, r.model.name, r.mlperf_model, s.scenario, s.mode, r.system.name, spec=s.to_dict(),
                       pid=os.getpid(), host=this_host())
    record.rules = {"round": r.rules.round, **asdict(r.model_rules)}
    record.system_info = {"name": r.system.name, "description": r.system.description,
                          "derived_from": r.system.derived_from, "scale": r.system.scale,
                          "config": str(r.system.path) if r.system.path else None, "host": r.host.to_dict(),
                          "systems_json": description.for_run(r.system.name, description.systems_dir_for(s.results_dir),
                                                              backend=info.name, versions=info.versions)}
    record.knobs = r.knobs.flat()
    record.options = r.knobs.as_dict()
    program = r.model.program
    record.program = {"name": program.__name__, "runner": program.needs, "batching": program.batching}
    record.warnings = list(r.warnings)
    record.git = git_state()
    record.weights = {"random": r.model.uses_random_weights, "description": r.model.describe_weights(),
                      "path": str(r.model.weights) if r.model.weights else None}
    record.data = {"demo": r.demo, "note": r.data_note, "location": dataset.location, "name": dataset.name,
                   "total_count": dataset.total_count}
    record.backend = {"name": info.name, "reason": r.backend_reason, "devices": info.devices,
                      "precision": info.precision, "notes": info.notes, "warmup_samples_per_s": measured_qps,
                      **info.details}
    record.versions = software_versions(info.versions)
    record.model_info = r.model.extra_record()
    record.loadgen = {"plan": plan.to_dict(), "user_conf": loadgen_settings.user_conf_text(plan)}
    if plan.compliance_test:
        record.compliance = plan.compliance_test
        record.loadgen["audit_config"] = loadgen_settings.audit_config_text(
            r.rules, r.rules.compliance_test(plan.compliance_test), r.model_rules.loadgen_name)
    record.comparable = comparability(r, plan)
    return record
