"""MLPerf round rules (configs/rules/<round>.yaml): seeds, run lengths, bounds, accuracy targets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.config import check_keys, configs_dir, load_yaml
from harness.errors import HarnessError

DEFAULT_ROUND = "v4.1"
SCENARIOS = ("Offline", "Server")

_MODEL_KEYS = frozenset({
    "performance_sample_count", "offline_min_query_count", "server_min_query_count",
    "server_target_latency_ms", "server_latency_percentile", "scenarios", "equal_issue",
    "accuracy_targets",
})
_TOP_KEYS = frozenset({"round", "published", "seeds", "min_duration_ms", "fast", "models", "compliance",
                       "mlperf_conf"})
_COMPLIANCE_KEYS = frozenset({"models", "audit", "audit_per_model", "performance", "seeds"})
_SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


@dataclass(frozen=True)
class ModelRules:
    loadgen_name: str
    performance_sample_count: int
    offline_min_query_count: int
    scenarios: tuple[str, ...]
    accuracy_targets: dict[str, dict[str, float]]
    server_min_query_count: int = 100
    server_target_latency_ms: float | None = None
    server_latency_percentile: float = 0.99
    equal_issue: bool = False
    # False for a model's own rules: LoadGen's embedded mlperf.conf knows nothing of it, so user.conf
    # carries what the conf would (the latency bound).
    in_loadgen_conf: bool = True

    def min_query_count(self, scenario: str) -> int:
        """The round's minimum query count of a performance run in this scenario."""
        return self.offline_min_query_count if scenario == "Offline" else self.server_min_query_count


@dataclass(frozen=True)
class ComplianceTest:
    """One compliance test of the round: its audit.config settings, the models that need it, and how far
    its result may move from the performance run's."""

    name: str
    models: tuple[str, ...]
    audit: dict[str, int]
    audit_per_model: dict[str, dict[str, int]] = field(default_factory=dict)
    max_faster: float | None = None
    max_slower: float | None = None
    # The seeds the test runs with (TEST05); None: the round's.
    seeds: dict[str, int] | None = None

    def audit_settings(self, loadgen_name: str) -> dict[str, int]:
        return {**self.audit, **self.audit_per_model.get(loadgen_name, {})}

    @property
    def checks_accuracy(self) -> bool:
        """The test samples responses into the accuracy log (TEST01)."""
        return "accuracy_log_sampling_target" in self.audit


@dataclass(frozen=True)
class Rules:
    round: str
    published: str
    seeds: dict[str, int]
    min_duration_ms: int
    fast_min_duration_ms: int
    fast_min_query_count: int
    models: dict[str, ModelRules] = field(default_factory=dict)
    compliance: dict[str, ComplianceTest] = field(default_factory=dict)
    # The round's mlperf.conf lines the values above do not carry (key -> value).
    mlperf_conf: dict[str, Any] = field(default_factory=dict)

    def compliance_test(self, name: str) -> ComplianceTest:
        key = name.strip().upper()
        if key not in self.compliance:
            raise HarnessError(f"rules {self.round} have no compliance test '{name}'",
                               "known tests: " + (", ".join(self.compliance) or "none"))
        return self.compliance[key]

    def required_tests(self, loadgen_name: str) -> list[ComplianceTest]:
        """The compliance tests the closed division requires for a model, in order."""
        return [test for test in self.compliance.values() if loadgen_name in test.models]

    def seeds_for(self, test: str | None) -> dict[str, int]:
        """The RNG seeds of a normal run, or of a compliance test that sets its own (TEST05)."""
        seeds = self.compliance_test(test).seeds if test else None
        return dict(seeds if seeds is not None else self.seeds)

    def model(self, loadgen_name: str, own: dict[str, Any] | None = None) -> ModelRules:
        """The round's rules for a model; ``own`` (ModelSpec.own_rules) serves models no round covers."""
        if loadgen_name in self.models:
            return self.models[loadgen_name]
        if own is not None:
            return replace(model_rules(loadgen_name, own, f"{loadgen_name}: own_rules"), in_loadgen_conf=False)
        raise HarnessError(f"rules {self.round} have no entry for model '{loadgen_name}'",
                           f"add it to configs/rules/{self.round}.yaml") from None


def model_rules(name: str, entry: dict[str, Any], where: str) -> ModelRules:
    check_keys(where, entry, _MODEL_KEYS)
    missing = [k for k in ("performance_sample_count", "offline_min_query_count", "scenarios", "accuracy_targets")
               if k not in entry]
    if missing:
        raise HarnessError(f"{where}: missing {', '.join(missing)}")
    return ModelRules(
        loadgen_name=name,
        performance_sample_count=int(entry["performance_sample_count"]),
        offline_min_query_count=int(entry["offline_min_query_count"]),
        scenarios=tuple(entry["scenarios"]),
        accuracy_targets={k: {m: target_value(v, f"{where}.{k}.{m}") for m, v in t.items()}
                          for k, t in entry["accuracy_targets"].items()},
        server_min_query_count=int(entry.get("server_min_query_count", 100)),
        server_target_latency_ms=entry.get("server_target_latency_ms"),
        server_latency_percentile=float(entry.get("server_latency_percentile", 0.99)),
        equal_issue=bool(entry.get("equal_issue", False)),
    )


def load_rules(round_name: str = DEFAULT_ROUND) -> Rules:
    path = configs_dir() / "rules" / f"{round_name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (configs_dir() / "rules").glob("*.yaml"))
        raise HarnessError(f"no rules for round '{round_name}'", "known rounds: " + ", ".join(known))
    data = load_yaml(path)
    check_keys(str(path), data, _TOP_KEYS)
    models = {str(name): model_rules(str(name), entry, f"{path}: models.{name}")
              for name, entry in (data.get("models") or {}).items()}
    fast = data.get("fast") or {}
    return Rules(
        round=str(data["round"]),
        published=str(data.get("published", "")),
        seeds={k: int(v) for k, v in data["seeds"].items()},
        min_duration_ms=int(data["min_duration_ms"]),
        fast_min_duration_ms=int(fast.get("min_duration_ms", 60000)),
        fast_min_query_count=int(fast.get("min_query_count", 1)),
        models=models,
        compliance={name.upper(): _compliance_test(str(path), name.upper(), entry)
                    for name, entry in (data.get("compliance") or {}).items()},
        mlperf_conf=dict(data.get("mlperf_conf") or {}),
    )


def target_value(value: Any, where: str) -> float:
    """An accuracy target: a number, or "reference * fraction" as the submission checker writes it
    (multiplied in floating point, so the harness and the checker agree to the last bit)."""
    if isinstance(value, (int, float)):
        return float(value)
    parts = str(value).split("*")
    try:
        factors = [float(p) for p in parts]
    except ValueError:
        raise HarnessError(f"{where}: accuracy target '{value}' is not a number or 'reference * fraction'",
                           'write e.g. 75.6954 or "76.46 * 0.99"') from None
    result = factors[0]
    for factor in factors[1:]:
        result *= factor
    return result


def _compliance_test(path: str, name: str, entry: dict[str, Any]) -> ComplianceTest:
    where = f"{path}: compliance.{name}"
    check_keys(where, entry, _COMPLIANCE_KEYS)
    performance = entry.get("performance") or {}
    check_keys(f"{where}.performance", performance, {"max_faster", "max_slower"})
    seeds = entry.get("seeds")
    if seeds is not None:
        check_keys(f"{where}.seeds", seeds, set(_SEED_KEYS))
        seeds = {k: int(seeds[k]) for k in _SEED_KEYS}
    return ComplianceTest(
        name=name, models=tuple(entry.get("models") or ()),
        audit={k: int(v) for k, v in (entry.get("audit") or {}).items()},
        audit_per_model={m: {k: int(v) for k, v in values.items()}
                         for m, values in (entry.get("audit_per_model") or {}).items()},
        max_faster=None if performance.get("max_faster") is None else float(performance["max_faster"]),
        max_slower=None if performance.get("max_slower") is None else float(performance["max_slower"]),
        seeds=seeds,
    )


def normalize_scenario(text: str, where: str = "") -> str:
    """'offline', 'SERVER' -> MLPerf's scenario name; anything else is refused."""
    for scenario in SCENARIOS:
        if text.strip().lower() == scenario.lower():
            return scenario
    prefix = f"{where}: " if where else ""
    raise HarnessError(f"{prefix}unknown scenario '{text}'", "valid scenarios: offline, server")
