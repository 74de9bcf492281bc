"""The service's metrics, written in the Prometheus text format (version 0.0.4) by hand.

Counted in the server: HTTP requests by method, route template (never the raw path, so
ids never become labels) and status, with a latency histogram per route; the in-process
worker pool's job outcomes; its model calls by role and model (attempts, failures,
tokens, cost in USD and time; the Recursive Reflector's sub-calls are not included).
Read from the database at each scrape: jobs by status (every tenant, every worker
process), so the queue depth is right also when ``ace worker`` processes do the work.
No metric carries a tenant or playbook label.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ace.service.learner import Learner, LearnerConfig

if TYPE_CHECKING:
    from ace.llm.observer import RequestInfo
    from ace.llm.response import LLMResponse
    from ace.service.learner import _Roles
    from ace.service.worker import PoolStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the request latency histogram."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the text format."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1
                break
        self.total += seconds
        self.count += 1


@dataclass
class _ModelTotals:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0


class Metrics:
    """Counters of one server; thread-safe. `render` writes them with the given gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self._models: dict[tuple[str, str], _ModelTotals] = defaultdict(_ModelTotals)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            self._latency[route].observe(seconds)

    def observe_model_call(
        self, role: str, model: str, outcome: LLMResponse | BaseException
    ) -> None:
        """Count one model attempt (a response, or the error it failed with)."""
        from ace.llm.response import LLMResponse

        with self._lock:
            totals = self._models[(role, model)]
            totals.calls += 1
            if isinstance(outcome, LLMResponse):
                totals.prompt_tokens += outcome.usage.prompt_tokens
                totals.completion_tokens += outcome.usage.completion_tokens
                totals.cost_usd += outcome.cost_usd or 0.0
                totals.seconds += outcome.duration_s
            else:
                totals.failures += 1

    def request_count(self, route: str | None = None) -> int:
        """Requests counted so far (of ``route`` when given)."""
        with self._lock:
            return sum(n for (_, r, _), n in self._requests.items() if route in (None, r))

    def render(
        self,
        *,
        jobs_by_status: Mapping[str, int] | None = None,
        pool: PoolStats | None = None,
        workers: int = 0,
    ) -> str:
        """The exposition text: these counters, the database's jobs by status, and the
        pool's outcomes."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(samples)

        with self._lock:
            requests = dict(self._requests)
            latency = {
                route: _Histogram(list(h.buckets), h.total, h.count)
                for route, h in self._latency.items()
            }
            models = {key: _ModelTotals(**vars(t)) for key, t in self._models.items()}
        family(
            "ace_http_requests_total",
            "counter",
            "HTTP requests served, by method, route template and status.",
            (
                f"ace_http_requests_total{_labels({'method': m, 'route': r, 'status': s})} {n}"
                for (m, r, s), n in sorted(requests.items())
            ),
        )
        samples: list[str] = []
        for route, histogram in sorted(latency.items()):
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, histogram.buckets, strict=True):
                cumulative += count
                labels = _labels({"route": route, "le": _number(bound)})
                samples.append(f"ace_http_request_duration_seconds_bucket{labels} {cumulative}")
            labels = _labels({"route": route, "le": "+Inf"})
            samples.append(f"ace_http_request_duration_seconds_bucket{labels} {histogram.count}")
            route_label = _labels({"route": route})
            samples.append(
                f"ace_http_request_duration_seconds_sum{route_label} {_number(histogram.total)}"
            )
            samples.append(
                f"ace_http_request_duration_seconds_count{route_label} {histogram.count}"
            )
        family(
            "ace_http_request_duration_seconds",
            "histogram",
            "Time from the request's arrival to the end of its response, per route template.",
            samples,
        )
        if jobs_by_status is not None:
            family(
                "ace_learn_queue_depth",
                "gauge",
                "Learn jobs waiting (queued) or being worked on (running), every tenant.",
                (
                    f"ace_learn_queue_depth{_labels({'status': s})} {jobs_by_status.get(s, 0)}"
                    for s in ("queued", "running")
                ),
            )
            family(
                "ace_learn_jobs",
                "gauge",
                "Learn jobs in the database by status (finished ones until purged).",
                (
                    f"ace_learn_jobs{_labels({'status': s})} {jobs_by_status.get(s, 0)}"
                    for s in ("queued", "running", "done", "failed")
                ),
            )
        family(
            "ace_workers",
            "gauge",
            "Worker threads of this server's in-process pool (0: ace worker processes).",
            [f"ace_workers {workers}"],
        )
        if pool is not None:
            outcomes = {
                "done": pool.done,
                "retried": pool.retried,
                "failed": pool.failed,
                "lost": pool.lost,
                "released": pool.released,
            }
            family(
                "ace_learn_job_outcomes_total",
                "counter",
                "Attempts of learn jobs finished by this server's pool, by outcome.",
                (
                    f"ace_learn_job_outcomes_total{_labels({'outcome': k})} {v}"
                    for k, v in outcomes.items()
                ),
            )
        per_model: dict[str, list[str]] = defaultdict(list)
        for (role, model), totals in sorted(models.items()):
            labels = _labels({"role": role, "model": model})
            per_model["ace_model_calls_total"].append(
                f"ace_model_calls_total{labels} {totals.calls}"
            )
            per_model["ace_model_call_failures_total"].append(
                f"ace_model_call_failures_total{labels} {totals.failures}"
            )
            for kind in ("prompt", "completion"):
                token_labels = _labels({"role": role, "model": model, "kind": kind})
                per_model["ace_model_tokens_total"].append(
                    f"ace_model_tokens_total{token_labels} {getattr(totals, f'{kind}_tokens')}"
                )
            per_model["ace_model_cost_usd_total"].append(
                f"ace_model_cost_usd_total{labels} {_number(totals.cost_usd)}"
            )
            per_model["ace_model_call_seconds_total"].append(
                f"ace_model_call_seconds_total{labels} {_number(totals.seconds)}"
            )
        for name, help_text in (
            ("ace_model_calls_total", "Model attempts of the in-process pool, by role and model."),
            ("ace_model_call_failures_total", "Model attempts that failed."),
            ("ace_model_tokens_total", "Tokens of the pool's model calls (prompt, completion)."),
            ("ace_model_cost_usd_total", "Cost in USD of the pool's model calls, as priced."),
            ("ace_model_call_seconds_total", "Time spent waiting for model replies."),
        ):
            family(name, "counter", help_text, per_model.get(name, []))
        return "\n".join(lines) + "\n"


class _RoleObserver:
    """A ``CallObserver`` that counts one role's attempts into `Metrics`."""

    def __init__(self, metrics: Metrics, role: str) -> None:
        self.metrics = metrics
        self.role = role

    def before_attempt(self, info: RequestInfo) -> None:
        """Nothing to check before an attempt."""

    def after_attempt(self, info: RequestInfo, outcome: LLMResponse | BaseException) -> None:
        """Count the attempt."""
        self.metrics.observe_model_call(self.role, info.model, outcome)


class MeteredLearner(Learner):
    """A ``Learner`` whose reflector and skill manager calls are counted into `Metrics`."""

    def __init__(self, config: LearnerConfig, metrics: Metrics) -> None:
        super().__init__(config)
        self.metrics = metrics

    def _roles(self) -> _Roles:
        roles = super()._roles()
        if not getattr(roles, "_ace_metered", False):
            roles.reflector_client = roles.reflector_client.with_observers(
                _RoleObserver(self.metrics, "reflector")
            )
            roles.skill_manager_client = roles.skill_manager_client.with_observers(
                _RoleObserver(self.metrics, "skill_manager")
            )
            roles._ace_metered = True  # type: ignore[attr-defined]
        return roles


def job_counts(store: Any) -> dict[str, int]:
    """Jobs by status over every tenant (for the queue depth)."""
    from sqlalchemy import func, select

    from ace.service.models import LearnJob

    with store._read() as connection:
        rows = connection.execute(
            select(LearnJob.status, func.count()).group_by(LearnJob.status)
        ).all()
    return {str(status): int(count) for status, count in rows}


__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "MeteredLearner", "Metrics", "job_counts"]
