"""The SkillManager: turns reflections into skillbook update operations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ace.outputs import ReflectorOutput, SkillManagerOutput
from ace.roles._common import SkillbookLike, render, resolve_client, usage_of
from ace.updates import UpdateBatch, UpdateOperation

if TYPE_CHECKING:
    from ace.llm import LLMClient


class SkillManager:
    """Decides ADD/UPDATE/TAG/REMOVE operations from one or more reflections.

    It only proposes; ``Skillbook.apply_update`` applies and reports operations that
    name a missing skill. Tags the Reflector gave to cited skills are turned into TAG
    operations here, so counters move even when the model forgets to tag.
    """

    def __init__(
        self,
        model: str | LLMClient,
        *,
        prompt_template: str | Path | None = None,
        max_retries: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``model`` is a litellm model string or an ``LLMClient``; ``model_settings``
        (``temperature``, ``max_tokens``, ``stop_sequences``, ...) and ``max_retries``
        configure the client built from a string."""
        self.client = resolve_client(model, model_settings, max_retries)
        self.prompt_template = prompt_template

    def update_skills(
        self,
        *,
        reflections: ReflectorOutput | Sequence[ReflectorOutput],
        skillbook: SkillbookLike,
        question_context: str = "",
        progress: str = "",
    ) -> SkillManagerOutput:
        """Return the proposed batch; raises ``LLMError`` when the model keeps failing."""
        items = [reflections] if isinstance(reflections, ReflectorOutput) else list(reflections)
        payload = [r.model_dump(exclude={"raw"}) for r in items]
        prompt = render(
            "skill_manager.j2",
            self.prompt_template,
            progress=progress or "(not given)",
            question_context=question_context or "(not given)",
            skillbook=skillbook.as_prompt(),
            reflections=orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode(),
        )
        result = self.client.structured(prompt, UpdateBatch)
        batch = result.value
        tagged = {
            (op.skill_id, k) for op in batch.operations if op.type == "TAG" for k in op.metadata
        }
        for reflection in items:
            for tag in reflection.skill_tags:
                if (tag.id, tag.tag) not in tagged:
                    batch.operations.append(
                        UpdateOperation(type="TAG", skill_id=tag.id, metadata={tag.tag: 1})
                    )
                    tagged.add((tag.id, tag.tag))
        return SkillManagerOutput(update=batch, raw={"usage": usage_of(result)})
