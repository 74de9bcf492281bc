"""A browser-use agent that learns from its runs.

Offline (the default): learns from a recorded browser-use history (a real run saved with
``history.save_to_file``: a failed navigation, the shop's page, the answer), with ACE's
Reflector and SkillManager answering through a scripted model on the real litellm path.

    python examples/browser_use_agent.py

Live (``pip install 'ace-rr[browser-use]'``, a Chrome or Chromium on the machine and an
OpenAI key): runs the agent in a headless browser with the learned skills in its system
prompt, and learns from that run too.

    python examples/browser_use_agent.py --live "What is the top story on news.ycombinator.com?"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ace import (
    ACEStepContext,
    Pipeline,
    Reflector,
    Sample,
    Skillbook,
    SkillbookView,
    SkillManager,
    learning_tail,
)
from ace.integrations.browser_use import BrowserToTrace
from ace.testing import ScriptedModel

HISTORY = Path(__file__).resolve().parent.parent / "tests" / "data" / "browser_use" / "history.json"
LESSON = "Before navigating, check the address: a closed port fails without a page"


def ace_roles() -> ScriptedModel:
    """The Reflector's and the SkillManager's answers, in order."""
    reflection = {
        "reasoning": "the first navigation went to a port nothing serves",
        "error_identification": "navigated to an unreachable address",
        "key_insight": LESSON,
        "extracted_learnings": [{"learning": LESSON, "atomicity_score": 0.9}],
    }
    update = {
        "reasoning": "new",
        "operations": [{"type": "ADD", "section": "navigation", "content": LESSON}],
    }
    return ScriptedModel([json.dumps(reflection), json.dumps(update)])


def offline() -> Skillbook:
    """Learn from the recorded history: BrowserToTrace, then the learning tail."""
    roles, skillbook = ace_roles(), Skillbook()
    pipe = Pipeline(
        [
            BrowserToTrace(),
            *learning_tail(Reflector(roles.name), SkillManager(roles.name), skillbook),
        ]
    )
    ctx = ACEStepContext(
        sample=Sample(question="What does the widget cost?"),
        skillbook=SkillbookView(skillbook),
        trace=HISTORY,
    )
    (result,) = pipe.run([ctx])
    pipe.wait_for_background()
    print(result.context.trace.render(1_500))
    return skillbook


def live(task: str, skillbook: Skillbook) -> None:
    """One real run with browser-use's OpenAI client (needs OPENAI_API_KEY)."""
    from browser_use import BrowserProfile
    from browser_use.llm.openai.chat import ChatOpenAI

    from ace import BrowserUse

    runner = BrowserUse.from_model(
        ChatOpenAI(model="gpt-4o-mini"),
        ace_model="gpt-4o-mini",
        skillbook=skillbook,
        browser_profile=BrowserProfile(headless=True),
        max_steps=15,
    )
    (result,) = runner.run([task])
    print("\nAnswer:", result.context.trace.final_answer)
    print("Skills now:", [s.content for s in runner.skillbook.skills()])


def main() -> None:
    """Learn offline; with ``--live TASK``, run one real task with what was learned."""
    skillbook = offline()
    print("\nLearned:", [s.content for s in skillbook.skills()])
    if sys.argv[1:2] == ["--live"]:
        live(" ".join(sys.argv[2:]) or "What is the top story on news.ycombinator.com?", skillbook)


if __name__ == "__main__":
    main()
