"""RR part 2: batches, recursion through rr_query, concurrent sessions, async callers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from ace.rr import RRConfig, RRStep
from ace.testing import ScriptedModel, code_reply, explore_then_final, reflection
from ace.traces import Trace, load_labelled_trace

DATA = Path(__file__).resolve().parent / "data" / "who_and_when" / "algorithm_generated"
BATCH_FILES = ["10.json", "11.json", "23.json", "27.json", "32.json"]

ATTRIBUTE_EACH_TASK = """
results = []
for view in tasks:
    fails = [h for h in view.search(r'exitcode: [1-9]') if h['agent'] == 'Computer_terminal']
    culprit = fails[0]['index'] - 1
    while view.step(culprit)['agent'] == 'Computer_terminal':
        culprit -= 1
    results.append({'reasoning': 'the first failing run follows this step',
                    'key_insight': 'test code before running it',
                    'attribution': {'agent': view.step(culprit)['agent'], 'step': culprit,
                                    'reason': 'its code failed'}})
print(len(results), [r['attribution']['step'] for r in results])
"""


def labelled(name: str):  # type: ignore[no-untyped-def]
    path = DATA / name
    if not path.exists():
        pytest.skip(f"Who&When data not found at {path}")
    return load_labelled_trace(json.loads(path.read_text()))


def small(tag: str, steps: int = 6) -> Trace:
    return Trace.model_validate(
        {
            "id": tag,
            "format": "ace",
            "question": f"task {tag}",
            "steps": [
                {
                    "index": i,
                    "content": f"{tag} step {i}" + (" ERROR: bad value" if i == 4 else ""),
                    "agent": f"a{i % 2}",
                }
                for i in range(steps)
            ],
        }
    )


def test_a_batch_of_five_who_and_when_traces_yields_five_attributions() -> None:
    items = [labelled(name) for name in BATCH_FILES]
    model = ScriptedModel(
        explore_then_final(
            ["print(len(tasks), [len(t) for t in tasks])", ATTRIBUTE_EACH_TASK],
            "FINAL({'tasks': results})",
        )
    )
    result = RRStep(model.name).analyse([item.trace for item in items])
    assert len(result.reflections) == 5
    got = [(r.attribution.agent, r.attribution.step) for r in result.reflections]  # type: ignore[union-attr]
    assert got == [(i.labels.mistake_agent, i.labels.mistake_step) for i in items]
    assert all(r.raw["batch_result"] == "per_task" for r in result.reflections)
    assert result.transcript.task_ids == [i.trace.id for i in items]
    prompt = model.requests[0].messages[1]["content"]
    assert "BATCH of 5 traces" in prompt and "TASK 4:" in prompt and "--- task 4 ---" in prompt


def test_a_batch_without_per_task_results_says_so_in_each_reflection() -> None:
    model = ScriptedModel(explore_then_final(["print(len(tasks))"], reflection("a0", 4)))
    result = RRStep(model.name).analyse(
        {"tasks": [small("x").model_dump(mode="json"), small("y").model_dump(mode="json")]}
    )
    assert len(result.reflections) == 2
    assert all(r.raw["batch_result"].startswith("shared") for r in result.reflections)


def test_a_batch_final_with_the_wrong_number_of_results_is_refused() -> None:
    model = ScriptedModel(
        [
            code_reply("print(len(tasks))"),
            code_reply(f"FINAL({{'tasks': [{reflection()!r}]}})"),
            code_reply(f"FINAL({{'tasks': [{reflection()!r}, {reflection()!r}]}})"),
        ]
    )
    result = RRStep(model.name).analyse([small("x"), small("y")])
    assert "1 task results for 2 tasks" in (result.transcript.iterations[1].final_rejection or "")
    assert len(result.reflections) == 2 and result.transcript.outcome == "final"


CHILD_CALL = """
window = {'question': 'which step fails?', 'steps': [trace.step(i) for i in range(3, 6)]}
child = rr_query('Which step in this window fails, and who ran it?', window)
step = 3 + child['attribution']['step']
print(child['outcome'], child['attribution'], step)
"""


def test_recursion_child_finds_the_step_and_the_parent_reports_it() -> None:
    # one scripted conversation: parent turn 1 calls rr_query, the child's two turns run
    # inside that call, then the parent's final turn.
    model = ScriptedModel(
        [
            code_reply(CHILD_CALL),
            code_reply("hits = trace.search('ERROR')\nprint(hits)"),
            code_reply(
                "FINAL({'reasoning': 'r', 'key_insight': 'k', 'attribution': {'agent': hits[0]['agent'], 'step': hits[0]['index']}})"
            ),
            code_reply(
                "FINAL({'reasoning': 'child said so', 'key_insight': 'k', 'attribution': {'agent': trace.step(step)['agent'], 'step': step}})"
            ),
        ]
    )
    config = RRConfig(max_depth=1, max_llm_calls=12)
    result = RRStep(model.name, config).analyse(small("p"))
    assert result.reflection.attribution.step == 4  # type: ignore[union-attr]
    assert result.reflection.attribution.agent == "a0"  # type: ignore[union-attr]
    (child,) = result.transcript.iterations[0].children
    assert child.depth == 1 and child.outcome == "final" and child.transcript is not None
    # 12 calls: 1 held for the synthesis, 1 used by the parent's first turn, 1 paid for the
    # child's start; the child gets half of the 9 left.
    assert child.transcript.depth == 1 and child.budget_calls == int((12 - 1 - 1 - 1) * 0.5)
    # the ledger is shared: the parent's total includes the child's start and its two calls
    assert child.transcript.usage["calls"] == 2
    assert result.transcript.usage["calls"] == 5
    assert result.transcript.usage["by_model"]["rr_query"]["calls"] == 1
    summary = result.reflection.raw["rr_trace"]["iterations"][0]["children"][0]
    assert summary["depth"] == 1 and summary["calls"] == 2
    assert "rr_query" in model.requests[0].messages[0]["content"]
    assert "rr_query" not in model.requests[1].messages[0]["content"]  # the child is at max depth


def test_a_child_exceeding_its_share_stops_cleanly() -> None:
    explore_forever = [code_reply(f"x = {i}") for i in range(3)]
    model = ScriptedModel(
        [
            code_reply(CHILD_CALL),
            *explore_forever,  # the child never calls FINAL; its share is 3 calls
            json.dumps(
                reflection("a1", 1, key_insight="child synthesis")
            ),  # child's reserved synthesis
            code_reply(f"print(child['outcome'])\nFINAL({reflection('a0', 4)!r})"),
        ]
    )
    config = RRConfig(max_depth=1, max_llm_calls=12, child_budget_share=0.5)
    result = RRStep(model.name, config).analyse(small("p"))
    (child,) = result.transcript.iterations[0].children
    assert child.budget_calls == 4
    assert child.outcome == "synthesis" and child.transcript.usage["calls"] == 4  # type: ignore[union-attr]
    assert "synthesis" in result.transcript.iterations[1].stdout
    assert result.transcript.outcome == "final" and result.transcript.usage["calls"] <= 12


def test_rr_query_at_zero_budget_fails_fast_and_children_are_capped() -> None:
    """A cell looping on rr_query: each child's start is paid before it starts, children
    are capped per cell and per session, and starting them counts against the cell."""
    loop = (
        "outcomes = []\n"
        "for i in range(40):\n"
        "    try:\n"
        "        rr_query('q', {'question': 'q', 'steps': [{'content': 'x'}]})\n"
        "        outcomes.append('child')\n"
        "    except Exception as exc:\n"
        "        outcomes.append(str(exc)[-60:])\n"
        "print(outcomes.count('child'), sorted(set(o for o in outcomes if o != 'child')))"
    )
    final = f"FINAL({reflection('a0', 1)!r})"
    child = explore_then_final(["print(len(trace))"], reflection("c", 0))
    model = ScriptedModel([code_reply(loop), *child, *child, code_reply(final)])
    config = RRConfig(max_depth=1, max_llm_calls=12, timeout=30)
    started = time.monotonic()
    result = RRStep(model.name, config).analyse(small("p"))
    took = time.monotonic() - started
    first = result.transcript.iterations[0]
    assert first.stdout.startswith("2 "), first.stdout  # max_children_per_cell
    assert "at most 2 child sessions per cell" in first.stdout
    assert len(first.children) == 2 and took < 60
    assert result.transcript.outcome == "final"

    # At zero budget no child starts at all: the start is paid first.
    broke = ScriptedModel([code_reply(loop), code_reply(final)])
    tight = RRConfig(max_depth=1, max_llm_calls=2, timeout=30)  # no call left after turn 1
    result = RRStep(broke.name, tight).analyse(small("p"))
    first = result.transcript.iterations[0]
    assert first.stdout.startswith("0 ") and "calls used" in first.stdout
    assert first.children == [] and first.duration_s < 5


def test_rr_query_is_absent_at_max_depth_zero() -> None:
    model = ScriptedModel(
        [
            code_reply("rr_query('q', {})"),
            code_reply("print(1)"),
            code_reply(f"FINAL({reflection()!r})"),
        ]
    )
    result = RRStep(model.name).analyse(small("p"))
    assert "NameError" in (result.transcript.iterations[0].error or "")


def test_four_concurrent_sessions_keep_separate_kernels_and_ledgers() -> None:
    probe = "import json\nprint('mine', traces['id'])\n"
    outcomes: dict[str, object] = {}

    def run(tag: str, turns: int) -> None:
        cells = [probe] + [f"y{i} = {i}" for i in range(turns)]
        model = ScriptedModel(explore_then_final(cells, reflection(tag)))
        result = RRStep(model.name).analyse(small(tag))
        outcomes[tag] = (
            result.transcript.iterations[0].stdout.strip(),
            result.transcript.usage["calls"],
        )

    threads = [threading.Thread(target=run, args=(f"t{n}", n)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert outcomes == {f"t{n}": (f"mine t{n}", n + 2) for n in range(4)}


def test_inside_a_running_event_loop() -> None:
    async def main() -> tuple[str, str]:
        first = ScriptedModel(explore_then_final(["print(1)"], reflection("a0")))
        second = ScriptedModel(explore_then_final(["print(2)"], reflection("a1")))
        via_thread = await RRStep(first.name).aanalyse(small("x"))
        blocking = RRStep(second.name).analyse(
            small("y")
        )  # sync call from a coroutine: no nested loop
        return via_thread.transcript.outcome, blocking.transcript.outcome

    assert asyncio.run(main()) == ("final", "final")


def test_rr_step_in_a_pipeline_single_and_batch() -> None:
    from ace import ACEStepContext, Pipeline, Skillbook, SkillbookView

    model = ScriptedModel(
        explore_then_final(["print(len(trace))"], reflection("a0", 4))
        + explore_then_final(
            ["print(len(tasks))"], "FINAL({'tasks': [dict(key_insight=str(k)) for k in range(3)]})"
        )
    )
    step = RRStep(model.name)
    assert step.requires == {"trace", "skillbook"} and step.provides == {"reflections"}
    view = SkillbookView(Skillbook())
    contexts = [
        ACEStepContext(trace=small("one"), skillbook=view),
        ACEStepContext(trace=[small("x"), small("y"), small("z")], skillbook=view),
    ]
    single, batch = Pipeline([step]).run(contexts)
    assert single.ok and batch.ok, (single.error, batch.error)
    assert [r.attribution.step for r in single.context.reflections] == [4]  # type: ignore[union-attr]
    assert [r.key_insight for r in batch.context.reflections] == ["0", "1", "2"]  # type: ignore[union-attr]


def test_the_trace_view_indexes_and_iterates_like_its_steps() -> None:
    model = ScriptedModel(
        explore_then_final(
            [
                "print(trace[1]['agent'], [s['index'] for s in trace][-1], trace[-1] == trace.step(-1))"
            ],
            reflection(),
        )
    )
    result = RRStep(model.name).analyse(small("v"))
    assert result.transcript.iterations[0].stdout.strip() == "a1 5 True"


def test_rr_step_in_an_async_pipeline_keeps_the_loop_responsive() -> None:
    from ace import ACEStepContext, Pipeline, Skillbook, SkillbookView

    model = ScriptedModel(explore_then_final(["print(len(trace))"], reflection("a0", 4)))
    pipeline = Pipeline([RRStep(model.name)])

    async def main() -> tuple[int, list[object]]:
        ticks = 0
        done = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        results = await pipeline.run_async(
            [ACEStepContext(trace=small("a"), skillbook=SkillbookView(Skillbook()))]
        )
        done.set()
        await beat
        return ticks, [r.context.reflections for r in results]  # type: ignore[union-attr]

    ticks, reflections = asyncio.run(main())
    assert ticks > 5  # the loop kept running while the session worked in a thread
    (only,) = reflections
    assert only[0].attribution.step == 4  # type: ignore[index]
