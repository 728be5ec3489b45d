"""MLPerf round rules (configs/rules/<round>.yaml): seeds, run lengths, bounds, accuracy targets."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import check_keys, configs_dir, load_yaml
from harness.errors import HarnessError

DEFAULT_ROUND = "v4.1"
SCENARIOS = ("Offline", "Server")

_MODEL_KEYS = frozenset({
    "performance_sample_count", "offline_min_query_count", "server_min_query_count",
    "server_target_latency_ms", "server_latency_percentile", "scenarios", "equal_issue",
    "accuracy_targets",
})
_TOP_KEYS = frozenset({"round", "published", "seeds", "min_duration_ms", "fast", "models"})


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


@dataclass(frozen=True)
class Rules:
    round: str
    published: str
    seeds: dict[str, int]
    min_duration_ms: int
    fast_min_duration_ms: int
    fast_min_query_count: int
    models: dict[str, ModelRules] = field(default_factory=dict)

    def model(self, loadgen_name: str) -> ModelRules:
        try:
            return self.models[loadgen_name]
        except KeyError:
            raise HarnessError(f"rules {self.round} have no entry for model '{loadgen_name}'",
                               f"add it to configs/rules/{self.round}.yaml") from None


def load_rules(round_name: str = DEFAULT_ROUND) -> Rules:
    path = configs_dir() / "rules" / f"{round_name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (configs_dir() / "rules").glob("*.yaml"))
        raise HarnessError(f"no rules for round '{round_name}'", "known rounds: " + ", ".join(known))
    data = load_yaml(path)
    check_keys(str(path), data, _TOP_KEYS)
    models: dict[str, ModelRules] = {}
    for name, entry in (data.get("models") or {}).items():
        check_keys(f"{path}: models.{name}", entry, _MODEL_KEYS)
        models[name] = ModelRules(
            loadgen_name=name,
            performance_sample_count=int(entry["performance_sample_count"]),
            offline_min_query_count=int(entry["offline_min_query_count"]),
            scenarios=tuple(entry["scenarios"]),
            accuracy_targets={k: {m: float(v) for m, v in t.items()}
                              for k, t in entry["accuracy_targets"].items()},
            server_min_query_count=int(entry.get("server_min_query_count", 100)),
            server_target_latency_ms=entry.get("server_target_latency_ms"),
            server_latency_percentile=float(entry.get("server_latency_percentile", 0.99)),
            equal_issue=bool(entry.get("equal_issue", False)),
        )
    fast = data.get("fast") or {}
    return Rules(
        round=str(data["round"]),
        published=str(data.get("published", "")),
        seeds={k: int(v) for k, v in data["seeds"].items()},
        min_duration_ms=int(data["min_duration_ms"]),
        fast_min_duration_ms=int(fast.get("min_duration_ms", 60000)),
        fast_min_query_count=int(fast.get("min_query_count", 1)),
        models=models,
    )


def normalize_scenario(text: str, where: str = "") -> str:
    """'offline', 'SERVER' -> MLPerf's scenario name; anything else is refused."""
    for scenario in SCENARIOS:
        if text.strip().lower() == scenario.lower():
            return scenario
    prefix = f"{where}: " if where else ""
    raise HarnessError(f"{prefix}unknown scenario '{text}'", "valid scenarios: offline, server")
