"""RRStep: the Recursive Reflector as a pipeline step and as a drop-in reflector."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ace.outputs import AgentOutput, ReflectorOutput
from ace.rr._inputs import SkillbookInfo, TaskInfo
from ace.rr.config import RRConfig
from ace.rr.ledger import BudgetParent, Ledger
from ace.rr.session import ProgressEvent, RRResult, RRSession

if TYPE_CHECKING:
    from ace.llm import LLMClient
    from ace.pipeline import ACEStepContext
    from ace.traces import Trace
    from sandbox import Kernel, SandboxConfig, SandboxPool


class RRStep:
    """Analyses a trace by writing and running Python over it in an isolated kernel.

    Use it wherever a reflector goes (``ACELiteLLM(model, reflector=RRStep(model))``,
    ``learning_tail(RRStep(model), ...)``) or as a pipeline step of its own
    (``requires = {"trace", "skillbook"}``, ``provides = {"reflections"}``).
    Each ``reflect``/``analyse`` call is one session with its own kernel and ledger.

    From its second session on, a step keeps ``config.warm_kernels`` kernels started
    ahead; they stop after ``config.warm_idle_s`` without a session, when the step is
    closed (``close()``, or leaving ``with RRStep(...) as rr:``), when it is garbage
    collected, and at interpreter exit. A step used once starts its kernel cold and leaves
    nothing running.

    ``model_settings`` is a mapping like pydantic-ai's ``ModelSettings`` (``temperature``,
    ``max_tokens``, ``timeout``, ``top_p``, ``seed``, ``stop_sequences``, ``extra_headers``,
    ...) for the main model's client, built by ``ace.llm.settings.client_from_settings``;
    the sub-model is configured by the ``subagent_*`` fields of ``config`` only. A
    non-mapping, or settings given with an ``LLMClient`` as ``model`` (configure that client
    instead), raises ``UsageError`` before any model call.

    Precedence: a key set in ``model_settings`` wins for every main-model call (the turns
    and the synthesis): ``temperature`` over ``config.temperature`` and ``max_tokens`` over
    ``config.main_max_tokens``; a key it does not set falls back to the config field (so
    without settings, nothing changes).

    ``kernel_factory`` makes each session's kernel when the code should run somewhere
    other than a local ``Sandbox`` (a remote kernel, a container): any ``sandbox.Kernel``.
    It replaces ``sandbox_config`` and the warm pool; the kernel is closed when the
    session ends.
    """

    requires = frozenset({"trace", "skillbook"})
    provides = frozenset({"reflections"})

    def __init__(
        self,
        model: str | LLMClient,
        config: RRConfig | None = None,
        prompt_template: str | Path | None = None,
        *,
        sandbox_config: SandboxConfig | None = None,
        model_settings: Mapping[str, Any] | None = None,
        kernel_factory: Callable[[], Kernel] | None = None,
    ) -> None:
        from ace.llm import LLMClient
        from ace.llm.settings import client_from_settings

        self.config = config or RRConfig()
        self.main = client_from_settings(model, model_settings)
        given = model_settings or {}
        self._main_temperature: float | None = (
            self.main.temperature if given.get("temperature") is not None else None
        )
        self._main_max_tokens: int | None = (
            self.main.max_tokens if given.get("max_tokens") is not None else None
        )
        sub_model = self.config.subagent_model or self.main.model
        self.sub = LLMClient(sub_model, temperature=self.config.subagent_temperature)
        self.prompt_template = prompt_template
        self.sandbox_config = sandbox_config
        self.kernel_factory = kernel_factory
        """Makes each session's kernel instead of a ``Sandbox``; None = the sandbox."""
        self.last_result: RRResult | None = None
        self._pools: dict[str, SandboxPool] = {}  # the warm pool, once there is one
        self._pool_lock = threading.Lock()
        self._sessions = 0
        self._finalizer = weakref.finalize(self, _close_pools, self._pools)
        if self.config.max_cost_usd is not None:
            from ace.rr._metering import price

            price(self.main.model, 1, 1)  # raises ConfigurationError for unpriced models
            price(self.sub.model, 1, 1)

    # ------------------------------------------------------------------ step protocol
    def __call__(self, ctx: ACEStepContext) -> ACEStepContext:
        """Reflect on ``ctx.trace``; a batch trace gives one reflection per task, in order.

        With a sample and an Agent answer in the context, those are used as the
        ``ReflectStep`` would; otherwise question and answer come from the trace (both
        read by ``ace.steps``' one reader of reflection inputs).
        """
        from ace.steps._fields import reflect_arguments

        if _is_batch(ctx.trace):
            result = self.analyse(ctx.trace, skillbook=ctx.skillbook)
            return ctx.replace(reflections=tuple(result.reflections))
        live = ctx.sample is not None and ctx.agent_output is not None
        reflection = self.reflect(**reflect_arguments(ctx, from_trace=not live, step="RRStep"))
        return ctx.replace(reflections=(reflection,))

    # ------------------------------------------------------------------ reflector protocol
    def reflect(
        self,
        *,
        question: str,
        agent_output: AgentOutput,
        skillbook: Any,
        ground_truth: str | None = None,
        feedback: str | None = None,
        trace: Any = None,
    ) -> ReflectorOutput:
        """Run one session; never raises for model or kernel failures (see ``raw``)."""
        from ace.traces import Trace, load_trace

        if trace is None:
            normalised = Trace.from_task(
                question=question,
                reasoning=agent_output.reasoning,
                final_answer=agent_output.final_answer,
                ground_truth=ground_truth,
                feedback=feedback,
            )
        else:
            normalised = trace if isinstance(trace, Trace) else load_trace(trace)
        task = TaskInfo.from_trace(
            normalised,
            question=question,
            final_answer=agent_output.final_answer,
            ground_truth=ground_truth,
            feedback=feedback,
        )
        result = self._session(None).run([normalised], [task], SkillbookInfo.of(skillbook))
        known = set(agent_output.skill_ids)
        result.reflection.skill_tags = [t for t in result.reflection.skill_tags if t.id in known]
        self.last_result = result
        return result.reflection

    async def areflect(self, **arguments: Any) -> ReflectorOutput:
        """``reflect`` for async callers: the session runs in a worker thread, never in a
        nested event loop, so the caller's loop stays responsive."""
        import asyncio

        return await asyncio.to_thread(lambda: self.reflect(**arguments))

    def analyse(
        self,
        trace: Any,
        *,
        skillbook: Any = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        budget: BudgetParent | None = None,
    ) -> RRResult:
        """Analyse a trace, or a batch (a list or ``{"tasks": [...]}``) in one session.

        ``budget`` (a ``RunLedger``) is charged with every call of the session besides the
        session's own ledger, so many sessions can share one run-wide limit.

        ``trace`` may also be a path to a trace file (JSON, JSONL, text log, directory): an
        ``os.PathLike``, or a string without whitespace that has a trace suffix or a path
        separator. A path that does not exist raises ``FileNotFoundError`` before any model
        call; other strings are trace text.

        A batch yields one reflection per task, in order (``result.reflections``).
        """
        from ace.traces import Trace, load_trace, load_traces
        from ace.traces._files import looks_like_path

        if isinstance(trace, os.PathLike) or (isinstance(trace, str) and looks_like_path(trace)):
            loaded = load_traces(Path(trace))
            trace = loaded if len(loaded) > 1 else loaded[0]
        batch = _is_batch(trace)
        traces: list[Trace] = (
            load_traces(trace)
            if batch
            else [trace if isinstance(trace, Trace) else load_trace(trace)]
        )
        tasks = [TaskInfo.from_trace(t) for t in traces]
        result = self._session(on_progress, parent=budget).run(
            traces, tasks, SkillbookInfo.of(skillbook), batch=batch
        )
        self.last_result = result
        return result

    async def aanalyse(self, trace: Any, **options: Any) -> RRResult:
        """``analyse`` for async callers (runs in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(lambda: self.analyse(trace, **options))

    # ------------------------------------------------------------------ internals
    def _session(
        self,
        on_progress: Callable[[ProgressEvent], None] | None,
        ledger: Ledger | None = None,
        depth: int = 0,
        parent: BudgetParent | None = None,
    ) -> RRSession:
        from ace.rr._metering import LedgerObserver

        if ledger is None:
            ledger = Ledger(
                max_calls=self.config.max_llm_calls,
                max_tokens=self.config.max_tokens,
                max_cost_usd=self.config.max_cost_usd,
                reserve_synthesis=self.config.enable_fallback_synthesis,
                max_sub_calls=self.config.subagent_max_requests,
                parent=parent,
            )
        return RRSession(
            main=self.main.with_observers(LedgerObserver(ledger, "main")),
            sub=self.sub.with_observers(LedgerObserver(ledger, "sub")),
            synthesis=self.main.with_observers(LedgerObserver(ledger, "synthesis")),
            config=self.config,
            ledger=ledger,
            kernel_factory=self._make_kernel,
            prompt_template=self.prompt_template,
            on_progress=on_progress,
            depth=depth,
            spawn_child=lambda child_ledger, child_depth: self._session(
                None, child_ledger, child_depth
            ),
            main_temperature=self._main_temperature,
            main_max_tokens=self._main_max_tokens,
        )

    def _make_kernel(self) -> Kernel:
        """The kernel of one session: the user's factory's, or a ``Sandbox`` from the warm
        pool, or started cold."""
        from sandbox import Sandbox, SandboxConfig, SandboxPool

        if self.kernel_factory is not None:
            return self.kernel_factory()

        config = self.sandbox_config or SandboxConfig(
            timeout_s=self.config.timeout,
            max_output_chars=max(self.config.max_output_chars * 4, 20_000),
        )
        with self._pool_lock:
            self._sessions += 1
            if self.config.warm_kernels == 0 or self._sessions == 1:
                return Sandbox(config)  # a step used once keeps nothing warm
            pool = self._pools.get("warm")
            if pool is None:
                pool = self._pools["warm"] = SandboxPool(
                    config, size=self.config.warm_kernels, idle_shutdown_s=self.config.warm_idle_s
                )
        return pool.acquire()

    def close(self) -> None:
        """Stop the warm kernels now. The step stays usable: a later session starts cold."""
        with self._pool_lock:
            _close_pools(self._pools)

    def __enter__(self) -> RRStep:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _close_pools(pools: dict[str, SandboxPool]) -> None:
    for pool in list(pools.values()):
        pool.close()
    pools.clear()


def _is_batch(trace: Any) -> bool:
    """Several traces (the loaders' "batch" shape, or a list of ``Trace`` objects)."""
    from ace.traces import Trace, detect_format

    if isinstance(trace, list) and trace and all(isinstance(t, Trace) for t in trace):
        return len(trace) > 1
    return isinstance(trace, list | dict) and detect_format(trace) == "batch"
