"""The embedded playbook format: rendered once, found again in whatever a client sends back."""

from __future__ import annotations

import json
import subprocess
import sys

from ace import Skillbook
from ace.service.markers import (
    PLAYBOOK_BEGIN,
    PLAYBOOK_END,
    block_intro,
    embed,
    embedded_skill_ids,
    extract_blocks,
    render_block,
    strip_blocks,
)


def book() -> Skillbook:
    sb = Skillbook()
    sb.add_skill("math", "Show the arithmetic\n step by step")
    sb.add_skill("io", "Check file permissions before writing")
    sb.add_skill("math", "Round only at the end")
    sb.tag_skill("math-00001", "helpful", 2)
    sb.tag_skill("math-00001", "harmful", 1)
    return sb


def test_a_block_groups_skills_by_section_with_ids_and_counts() -> None:
    text = render_block(book().skills())
    lines = text.splitlines()
    assert lines[0] == PLAYBOOK_BEGIN and lines[-1] == PLAYBOOK_END
    assert "e.g. [math-00001]" in lines[1]
    assert lines[2:-1] == [
        "## math",
        "- [math-00001] Show the arithmetic step by step (helpful 2, harmful 1)",
        "- [math-00003] Round only at the end",
        "## io",
        "- [io-00002] Check file permissions before writing",
    ]
    # the same skill lines as the skillbook's own prompt form
    assert all(line in book().as_prompt().splitlines() for line in lines[2:-1])
    assert render_block([]) == f"{PLAYBOOK_BEGIN}\n{block_intro(None)}\n{PLAYBOOK_END}"
    assert block_intro(None) == "(no strategies learned yet)"
    assert block_intro("a-1") == (
        "Strategies learned from earlier runs. Cite the ids of those you use, e.g. [a-1]."
    )


def test_embedded_ids_come_back_from_plain_escaped_and_cut_off_text() -> None:
    sb = book()
    prompt = embed("What is 6 * 7?", sb.skills())
    assert prompt.startswith("What is 6 * 7?\n\n" + PLAYBOOK_BEGIN)
    known = {s.id for s in sb.skills()}
    assert embedded_skill_ids(prompt, known=known) == ["math-00001", "math-00003", "io-00002"]
    # a trajectory that holds the prompt JSON-escaped, with "\n" for line breaks
    escaped = json.dumps({"messages": [{"role": "user", "content": prompt}]})
    assert "\\n" in escaped
    assert embedded_skill_ids(escaped, known=known) == ["math-00001", "math-00003", "io-00002"]
    # a block cut off before its end marker still counts; text outside blocks never does
    cut = "[io-00002] outside\n" + prompt[: prompt.index("[math-00003]") + 20]
    assert embedded_skill_ids(cut, known=known) == ["math-00001", "math-00003"]
    # brackets inside a skill's text are not ids unless the playbook has them
    odd = f"{PLAYBOOK_BEGIN}\n- [x-00009] use [brackets] like [io-00002]\n{PLAYBOOK_END}"
    assert embedded_skill_ids(odd) == ["x-00009", "brackets", "io-00002"]
    assert embedded_skill_ids(odd, known=known) == ["io-00002"]
    # several texts, several blocks, no repeats
    assert embedded_skill_ids(prompt, odd, known=known) == ["math-00001", "math-00003", "io-00002"]
    assert len(extract_blocks(prompt + "\n" + odd)) == 2


def test_ids_of_any_shape_round_trip() -> None:
    sb = Skillbook.from_dict(
        {"skills": {"ctx 7/weird": {"section": "context", "content": "Ask before deleting."}}}
    )
    prompt = embed("Clean up the folder", sb.skills())
    assert embedded_skill_ids(prompt, known={"ctx 7/weird"}) == ["ctx 7/weird"]


def test_strip_blocks_leaves_the_task() -> None:
    prompt = embed("Solve it.", book().skills()) + "\n\nAnswer briefly."
    assert strip_blocks(prompt) == "Solve it.\n\nAnswer briefly."
    assert strip_blocks(f"Task\n{PLAYBOOK_BEGIN}\n- [a] b") == "Task"
    assert strip_blocks("no block") == "no block"


def test_the_markers_module_imports_no_database_code() -> None:
    code = (
        "import sys, ace.service, ace.service.markers, ace.service.requests; "
        "bad = [m for m in ('sqlalchemy', 'alembic', 'psycopg', 'litellm') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_public_name_of_the_service_is_documented() -> None:
    import importlib
    import inspect
    import pkgutil

    import ace.service

    names = [f"ace.service.{m.name}" for m in pkgutil.walk_packages(ace.service.__path__)]
    for module_name in [*names, "ace.cli._service"]:
        module = importlib.import_module(module_name)
        assert module.__doc__, module_name
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module_name:
                continue
            if inspect.isclass(value) or inspect.isfunction(value):
                assert value.__doc__, f"{module_name}.{name}"
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    function = member.fget if isinstance(member, property) else member
                    function = getattr(function, "__func__", function)
                    if not attr.startswith("_") and inspect.isfunction(function):
                        assert function.__doc__, f"{module_name}.{name}.{attr}"
    for name in ace.service.__all__:
        assert getattr(ace.service, name) is not None
