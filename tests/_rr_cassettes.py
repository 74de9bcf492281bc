"""Scripted RR sessions recorded as cassettes, and how their transcripts are compared.

Each scenario is a scripted conversation through the public API (``RRStep`` with the real
kernel) chosen to reach many of the texts the model reads: the system and task prompts,
every kind of cell feedback, the notes on missing code, repeats, timeouts and refused
FINALs, the near-end warning, sub-calls, a child session, batches, the synthesis and the
timeout reflection, and both ways the step is used in a pipeline.

``python tests/_rr_cassettes.py`` (re)records every scenario into ``tests/data/rr_cassettes``:
``<name>.cassette.json`` (every model request and reply) and ``<name>.expected.json`` (the
comparable form of what the session produced). The files there were recorded before the
RR session was split into its loop, prompts and endings (issue 37);
``tests/test_replay_cassettes.py`` replays them against the current code and requires
identical transcripts, timings aside. Re-record only for an intended change of behaviour.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: make the test helpers importable
    sys.path.insert(0, str(HERE))

from ace import AgentOutput, Sample, Skillbook  # noqa: E402
from ace.pipeline import ACEStepContext, SkillbookView  # noqa: E402
from ace.rr import RRConfig, RRStep  # noqa: E402
from ace.testing import RecordedRequest, code_reply, final_code, reflection  # noqa: E402
from ace.traces import Trace, load_trace_file  # noqa: E402

CASSETTES = HERE / "data" / "rr_cassettes"
WHO_AND_WHEN = HERE / "data" / "who_and_when"

Outcome = list[tuple[list[Any], Any]]
"""Per session the scenario ran: its reflections and its transcript."""


def skillbook() -> Skillbook:
    """Two skills in two sections, one with tag counts."""
    book = Skillbook()
    book.add_skill("verification", "Check each tool result against the task before using it.")
    second = book.add_skill("search", "Open the page a search result points to before quoting it.")
    book.tag_skill(second.id, "helpful", 2)
    return book


def sub_reply(request: RecordedRequest) -> str:
    """The sub-model: a fixed answer per kind of question."""
    text = request.last_user_text
    if "Summarise step " in text:
        return f"summary of step {text.split('Summarise step ')[1][0]}"
    if "QUESTION" in text:
        return "extracted: the step quotes the wrong number"
    return "no rule"


@dataclass
class Scenario:
    """One recorded session (or a few, for the pipeline scenario)."""

    name: str
    replies: list[str]
    config: dict[str, Any]
    run: Callable[[RRStep], Outcome]
    uses_sub: bool = False

    def step(self, main: str, sub: str | None) -> RRStep:
        """The step for this scenario with the given model names."""
        options = dict(self.config)
        if sub is not None:
            options["subagent_model"] = sub
        return RRStep(main, RRConfig(warm_kernels=0, **options))


def _analyse(trace: Any, book: Any = None) -> Callable[[RRStep], Outcome]:
    def run(step: RRStep) -> Outcome:
        result = step.analyse(trace, skillbook=book)
        return [(result.reflections, result.transcript)]

    return run


def _hand_crafted(name: str) -> Trace:
    return load_trace_file(WHO_AND_WHEN / "hand_crafted" / name)


def _algorithm(name: str) -> Trace:
    return load_trace_file(WHO_AND_WHEN / "algorithm_generated" / name)


FINAL_DICT = reflection(
    "WebSurfer",
    4,
    root_cause_analysis="it trusted a search snippet",
    extracted_learnings=[
        {"learning": "open the page before quoting it", "atomicity_score": 0.9, "evidence": "4"}
    ],
)

EXPLORE_SUBCALLS = Scenario(
    name="explore_subcalls_final_var",
    uses_sub=True,
    config={"max_iterations": 10, "max_llm_calls": 20},
    replies=[
        "I will think about the trace first.",
        code_reply("print(len(trace), trace.agents())\nprint(trace.errors()[:2])"),
        code_reply(
            "answers = llm_batch([f'Summarise step {i}: ' + trace.text(i)[:200] "
            "for i in (1, 2, 3)])\nfor a in answers:\n    print(a)\n"
            "print(ask_llm('Which number does step 4 quote?', trace.text(4)[:300], "
            "mode='extract'))"
        ),
        code_reply("print(undefined_name)"),
        code_reply("print(undefined_name)"),
        code_reply(final_code(FINAL_DICT) + "\nraise ValueError('not yet')"),
        code_reply(
            "FINAL({'reasoning': 'r', 'attribution': {'agent': 'WebSurfer', 'step': 4},"
            " 'extracted_learnings': 'not a list'})"
        ),
        code_reply(f"result = {FINAL_DICT!r}\nFINAL_VAR('missing_name')"),
        code_reply(f"result = {FINAL_DICT!r}\nFINAL_VAR('result')", "I have enough evidence."),
    ],
    run=_analyse(_hand_crafted("1.json"), skillbook()),
)

SYNTHESIS = Scenario(
    name="timeout_repeats_trimming_synthesis",
    config={"max_iterations": 8, "max_context_chars": 9_000, "timeout": 2},
    replies=[
        code_reply("print(len(trace), trace.agents())"),
        code_reply("for i in range(len(trace)):\n    print(trace.text(i)[:1500])"),
        code_reply("while True:\n    pass"),
        code_reply("print(trace.window(3))"),
        code_reply("print(trace.window(3))"),
        code_reply("print(trace.window(3))"),
        json.dumps(
            {
                "reasoning": "the analysis ran out of turns",
                "error_identification": "a wrong result was accepted",
                "extracted_learnings": [
                    {"learning": "verify", "atomicity_score": 5},
                    {"learning": "rerun the tests", "atomicity_score": 0.8},
                ],
                "skill_tags": [{"id": "x-1", "tag": "great"}],
                "attribution": None,
                "culprit": {"agent": "Computer_terminal", "step": "step 3", "reason": "exit 1"},
            }
        ),
    ],
    run=_analyse(_algorithm("10.json"), skillbook()),
)

TIMEOUT_REFLECTION = Scenario(
    name="no_final_timeout_reflection",
    config={"max_iterations": 2},
    replies=[
        code_reply("print(trace.overview())"),
        code_reply("print(trace.preview(2, 80))"),
        "I cannot decide which agent is to blame.",
    ],
    run=_analyse(_algorithm("30.json")),
)

BATCH = Scenario(
    name="batch_refusals_then_per_task",
    config={"max_iterations": 5},
    replies=[
        code_reply("for k, view in enumerate(tasks):\n    print(k, len(view), view.agents())"),
        code_reply(f"FINAL({{'tasks': [{reflection('a', 1)!r}]}})"),
        code_reply(
            f"FINAL({{'tasks': [{reflection('a', 1)!r}, {{'attribution': {{'step': 'x'}}}}]}})"
        ),
        code_reply(
            f"FINAL({{'tasks': [{reflection('Computer_terminal', 2)!r}, "
            f"{reflection('Verification_Expert', 3)!r}]}})"
        ),
    ],
    run=_analyse([_algorithm("23.json"), _algorithm("27.json")]),
)

CHILD = Scenario(
    name="child_session_rr_query",
    config={"max_iterations": 4, "max_depth": 1, "max_llm_calls": 16},
    replies=[
        code_reply("print(len(trace))"),
        code_reply(
            "try:\n    rr_query('', [])\nexcept Exception as exc:\n    print('refused:', exc)\n"
            "child = rr_query('Which of these steps fails?', trace.steps[:4])\n"
            "print(child['outcome'], child['attribution'])"
        ),
        # the child's two turns run inside the parent's second cell
        code_reply("print(len(trace), trace.agents())"),
        code_reply(final_code(reflection("Computer_terminal", 1))),
        code_reply(final_code(reflection("Computer_terminal", 1)), "The child agrees."),
    ],
    run=_analyse(_algorithm("11.json")),
)


def _pipeline_run(step: RRStep) -> Outcome:
    book = skillbook()
    view = SkillbookView(book)
    ids = [s.id for s in book.skills()]
    outcome: Outcome = []
    recorded = {
        "id": "pipeline-trace",
        "question": "What is 6 * 7?",
        "final_answer": "41",
        "ground_truth": "42",
        "feedback": "wrong: off by one",
        "steps": [
            {"role": "assistant", "name": "planner", "content": "Multiply 6 by 7."},
            {"role": "assistant", "name": "calculator", "content": "The tool returned 41."},
        ],
    }
    ctx = step(ACEStepContext(trace=recorded, skillbook=view))
    assert step.last_result is not None
    outcome.append((list(ctx.reflections or ()), step.last_result.transcript))
    live = ACEStepContext(
        sample=Sample(question="What is 2 + 3?", ground_truth="5"),
        agent_output=AgentOutput(reasoning="2 + 3 = 6", final_answer="6", skill_ids=[ids[0]]),
        skillbook=view,
    )
    ctx = step(live)
    assert step.last_result is not None
    outcome.append((list(ctx.reflections or ()), step.last_result.transcript))
    return outcome


def _pipeline_replies() -> list[str]:
    book = skillbook()
    ids = [s.id for s in book.skills()]
    tags = [{"id": ids[0], "tag": "harmful"}, {"id": ids[1], "tag": "neutral"}]
    return [
        code_reply("print(trace.overview())"),
        code_reply(final_code(reflection("calculator", 1, skill_tags=tags))),
        code_reply("print(trace.text(0))"),
        "Direct answer:\n```json\n"
        + json.dumps(reflection("agent", 0, skill_tags=tags, key_insight="add carefully"))
        + "\n```",
    ]


PIPELINE = Scenario(
    name="pipeline_step_trace_and_live",
    config={"max_iterations": 3},
    replies=_pipeline_replies(),
    run=_pipeline_run,
)

SCENARIOS = [EXPLORE_SUBCALLS, SYNTHESIS, TIMEOUT_REFLECTION, BATCH, CHILD, PIPELINE]

# ---------------------------------------------------------------------- comparison
_REPLAY_PREFIX = re.compile(r"replay/cassette-\d+/")
_MARKER = re.compile(r"<<<([A-Z]+)-[0-9a-f]{8,64}>>>")
_VOLATILE = {
    "session_id",
    "started_at",
    "finished_at",
    "duration_s",
    "model_duration_s",
    "isolation",
}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _MARKER.sub(r"<<<\1-*>>>", _REPLAY_PREFIX.sub("", value))
    return value


def _sort_subcalls(value: Any) -> Any:
    """Concurrent sub-calls are recorded in completion order; compare them as a set."""
    if isinstance(value, dict):
        out = {k: _sort_subcalls(v) for k, v in value.items()}
        if isinstance(out.get("subcalls"), list):
            out["subcalls"] = sorted(out["subcalls"], key=lambda s: json.dumps(s, sort_keys=True))
        return out
    if isinstance(value, list):
        return [_sort_subcalls(v) for v in value]
    return value


def comparable(outcome: Outcome) -> list[dict[str, Any]]:
    """What must be identical between a recording and its replay: every message, cell,
    output, note, sub-call and child, the outcome, the usage and the reflections
    (``raw`` without the transcript summary, which repeats the transcript)."""
    sessions = []
    for reflections, transcript in outcome:
        raws = [
            {k: v for k, v in r.raw.items() if k not in ("rr_trace", "usage")} for r in reflections
        ]
        sessions.append(
            {
                "transcript": transcript.model_dump(mode="json"),
                "reflections": [r.model_dump(mode="json", exclude={"raw"}) for r in reflections],
                "raw": raws,
            }
        )
    return _sort_subcalls(_clean(json.loads(json.dumps(sessions, default=str))))


def first_difference(got: Any, want: Any, path: str = "$") -> str | None:
    """Where two comparable forms first differ (a JSON path and both values), or None."""
    if type(got) is not type(want):
        return f"{path}: {type(got).__name__} {str(got)[:200]!r} vs {str(want)[:200]!r}"
    if isinstance(got, dict):
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want:
                return f"{path}.{key}: present on one side only"
            found = first_difference(got[key], want[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(got, list):
        if len(got) != len(want):
            return f"{path}: {len(got)} items vs {len(want)}"
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if got == want else f"{path}: {str(got)[:300]!r} vs {str(want)[:300]!r}"


def record(scenario: Scenario, directory: Path = CASSETTES) -> Path:
    """Run ``scenario`` with scripted models under a recorder; write cassette and expected."""
    from ace.replay import Recorder
    from ace.testing import FunctionModel, ScriptedModel

    main = ScriptedModel(scenario.replies, name=f"rr-cassette-main-{scenario.name}")
    sub = FunctionModel(sub_reply, name=f"rr-cassette-sub-{scenario.name}")
    sub_name = sub.name if scenario.uses_sub else None
    with Recorder(model=main.name, subagent_model=sub_name) as recorder:
        outcome = scenario.run(scenario.step(main.name, sub_name))
    if main.remaining:
        raise RuntimeError(f"{scenario.name}: {main.remaining} scripted replies were not used")
    directory.mkdir(parents=True, exist_ok=True)
    recorder.save(directory / f"{scenario.name}.cassette.json")
    target = directory / f"{scenario.name}.expected.json"
    target.write_text(json.dumps(comparable(outcome), indent=1, sort_keys=True) + "\n")
    return target


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for item in SCENARIOS:
        if not wanted or item.name in wanted:
            print(record(item))
