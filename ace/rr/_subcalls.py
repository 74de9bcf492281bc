"""Sub-LLM calls from kernel code: ``ask_llm``, ``llm_query``, ``llm_batch``.

They run on the host with the cheaper sub-model, charged to the session's ledger. A
refused or failed single call raises in the kernel with a clear message; in a batch,
each failed item becomes a string starting with ``"ERROR:"`` so the results that did
arrive are not lost.

``llm_batch`` is the batch form of ``llm_query`` (raw prompts); ``RRConfig.enable_llm_query``
offers or withholds both (and ``parallel_map``), while ``ask_llm`` stays. A custom
``RRConfig.subagent_system_prompt`` goes ahead of every sub-call's prompt as a system message.
What kernel code is told when a call cannot be made is in ``prompts/rr/subcalls.j2``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ace.errors import BudgetExceededError, LLMError
from ace.llm import LLMClient
from ace.prompting import render_prompt
from ace.rr._tracing import set_attributes, span
from ace.rr.config import RRConfig
from ace.rr.transcript import SubCall

ASK_MODES = ("analysis", "extract", "summary")
MAX_BATCH = 256


def _say(part: str, **variables: Any) -> str:
    return render_prompt("rr/subcalls.j2", part=part, **variables)


class SubCallError(RuntimeError):
    """What kernel code sees when a sub-call cannot be made or fails."""


class SubCaller:
    """The host side of the sub-call helpers, recording each call for the transcript."""

    def __init__(
        self, client: LLMClient, config: RRConfig, record: Callable[[SubCall], None]
    ) -> None:
        self.client = client
        self.config = config
        self.record = record
        self._lock = threading.Lock()

    def ask_llm(self, question: Any = None, context: Any = "", mode: Any = "analysis") -> str:
        """Ask the sub-model about ``context``; ``mode`` is analysis, extract or summary."""
        if not isinstance(question, str) or not question.strip():
            raise TypeError(_say("ask_question"))
        if mode not in ASK_MODES:
            raise ValueError(_say("ask_mode", modes=ASK_MODES, given=repr(mode)))
        prompt = render_prompt(
            "rr/ask_llm.j2",
            question=question,
            context=context if isinstance(context, str) else str(context),
            mode=mode,
            marker=f"<<<TEXT-{secrets.token_hex(6)}>>>",
        )
        return self._call(prompt)

    def llm_query(self, prompt: Any = None) -> str:
        """Send ``prompt`` to the sub-model as is."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise TypeError(_say("query_prompt"))
        return self._call(prompt)

    def llm_batch(self, prompts: Any = None) -> list[str]:
        """Send many prompts at once (``subagent_concurrency`` in flight); results in order."""
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise TypeError(_say("batch_type"))
        if len(prompts) > MAX_BATCH:
            raise ValueError(_say("batch_size", limit=MAX_BATCH, given=len(prompts)))
        if not prompts:
            return []
        workers = min(self.config.subagent_concurrency, len(prompts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rr-subcall") as pool:
            return list(pool.map(self._call_or_error, prompts))

    def _call_or_error(self, prompt: str) -> str:
        try:
            return self._call(prompt)
        except (SubCallError, TypeError, ValueError) as exc:
            return _say("batch_item_error", error=exc)

    def _call(self, prompt: str) -> str:
        if len(prompt) > self.config.max_subcall_prompt_chars:
            raise ValueError(
                _say("too_long", chars=len(prompt), limit=self.config.max_subcall_prompt_chars)
            )
        entry = SubCall(model=self.client.model, prompt_chars=len(prompt), prompt=prompt)
        started = time.perf_counter()
        with span(
            "rr sub-call", **{"rr.model": self.client.model, "rr.prompt_chars": len(prompt)}
        ) as current:
            try:
                response = self.client.complete(
                    self._messages(prompt),
                    max_tokens=self.config.subagent_max_tokens,
                    temperature=self.config.subagent_temperature,
                )
            except BudgetExceededError as exc:
                entry.error = f"budget: {exc}"
                if exc.resource == "subagent_requests":
                    raise SubCallError(_say("request_limit", error=exc)) from None
                raise SubCallError(_say("budget", error=exc)) from None
            except LLMError as exc:
                entry.error = str(exc)
                raise SubCallError(_say("failed", model=self.client.model, error=exc)) from None
            finally:
                entry.duration_s = time.perf_counter() - started
                self.record(entry)
            entry.reply = response.text
            entry.reply_chars = len(response.text)
            entry.prompt_tokens = response.usage.prompt_tokens
            entry.completion_tokens = response.usage.completion_tokens
            entry.cost_usd = response.cost_usd
            set_attributes(
                current,
                **{
                    "rr.prompt_tokens": entry.prompt_tokens,
                    "rr.completion_tokens": entry.completion_tokens,
                },
            )
        return response.text

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        system = self.config.subagent_system_prompt
        user = {"role": "user", "content": prompt}
        return [{"role": "system", "content": system}, user] if system is not None else [user]
