"""Every text a model reads is rendered from ``prompts/``; the rest of each request is data.

The templates are copied and instrumented: every piece of literal template text is
wrapped in sentinels (``\\x02 ... \\x03``, placed inside the surrounding whitespace so
Jinja's whitespace control renders the same text), and the renderer is pointed at the
copy. Scripted sessions (the recorded scenarios of ``_rr_cassettes``, with the real
kernel) and a structured-output call then run, and every request is checked:

- each system and user message to the main model holds rendered text, and once the
  rendered pieces are taken out, what is left is data: numbers and punctuation, or text
  found in the session's inputs (the traces, the skillbook, the scripted replies), in
  what its cells printed or raised, or in what the kernel or the validator says
  (pydantic's messages quoted in a refusal);
- no request to any model holds a sentence written in the RR's or the structured-output
  code (every string literal of three words or more in ``ace/rr`` and
  ``ace/llm/structured.py``) outside the rendered pieces.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _rr_cassettes import HERE, SCENARIOS, WHO_AND_WHEN, Scenario, skillbook, sub_reply
from pydantic import BaseModel, TypeAdapter, ValidationError

import ace.prompting
from ace.llm import LLMClient
from ace.llm.structured import json_schema
from ace.rr.transcript import Transcript
from ace.testing import FunctionModel, RecordedRequest, ScriptedModel

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
OPEN, CLOSE = "\x02", "\x03"
RENDERED = re.compile(f"{OPEN}.*?{CLOSE}", re.DOTALL)
_TAG = re.compile(r"({%.*?%}|{{.*?}}|{#.*?#})", re.DOTALL)
_MARKER = re.compile(r"<<<[A-Z]+-[0-9a-f]+>>>")
_WORDS = re.compile(r"[A-Za-z]{2,}")


def instrument(source: str) -> str:
    """``source`` with every literal text piece wrapped in the sentinels."""
    parts = _TAG.split(source)
    for i in range(0, len(parts), 2):  # even indices are literal text between tags
        text = parts[i]
        lead, end = len(text) - len(text.lstrip()), len(text.rstrip())
        if end > lead:
            parts[i] = text[:lead] + OPEN + text[lead:end] + CLOSE + text[end:]
    return "".join(parts)


@pytest.fixture
def instrumented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "prompts"
    shutil.copytree(ace.prompting.prompt_dir(), root)
    for template in root.rglob("*.j2"):
        template.write_text(instrument(template.read_text(encoding="utf-8")), encoding="utf-8")
    monkeypatch.setattr(ace.prompting, "prompt_dir", lambda: root)
    yield root


def test_instrumenting_changes_nothing_but_the_sentinels(instrumented: Path) -> None:
    """The check below is only sound if the copy renders the same text, sentinels aside."""
    for template in sorted(instrumented.rglob("*.j2")):
        name = str(template.relative_to(instrumented))
        source = (REPO / "prompts" / name).read_text(encoding="utf-8")
        assert RENDERED.sub(lambda m: m.group(0)[1:-1], template.read_text()) == source
    text = ace.prompting.render_prompt("rr/notes.j2", part="repeat_clean", previous=3)
    assert RENDERED.sub("|", text) == "| 3|"


def _literal_phrases() -> set[str]:
    """Every string literal of the RR and the structured-output code with three or more
    words (docstrings aside): none of them may reach a model."""
    files = [p for p in (REPO / "ace" / "rr").glob("*.py") if p.name != "_kernel_prelude.py"]
    files.append(REPO / "ace" / "llm" / "structured.py")
    phrases: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
            ):
                phrase = " ".join(node.value.split())
                if len(_WORDS.findall(phrase)) >= 3:
                    phrases.add(phrase)
    return phrases


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _source_literals(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _outputs(transcript: Transcript) -> Iterator[str]:
    """What the session's cells printed or raised (rendered pieces taken out)."""
    for iteration in transcript.iterations:
        for text in (iteration.stdout, iteration.stderr, iteration.error or ""):
            yield RENDERED.sub(" ", text)
        for sub in iteration.subcalls:
            yield sub.reply
        for child in iteration.children:
            if child.transcript is not None:
                yield from _outputs(child.transcript)


def _normal(text: str) -> str:
    return " ".join(text.split())


def _validation_messages() -> list[re.Pattern[str]]:
    """pydantic's own error messages (data from the validator, like a kernel's output),
    as patterns, split where the check splits pieces."""
    from pydantic_core._pydantic_core import list_all_errors

    patterns = []
    for error in list_all_errors():
        for fragment in error["message_template_python"].split(", "):
            parts = re.split(r"\{\w+\}", fragment)
            if len(_WORDS.findall(" ".join(parts))) < 2:
                continue  # "{error}" and the like would match anything
            patterns.append(re.compile(".+?".join(re.escape(p) for p in parts)))
    return patterns


class Corpus:
    """The data a session was given or produced, to tell data from written text."""

    _validation = _validation_messages()

    def __init__(self, texts: list[str]) -> None:
        self.text = "\n".join(_normal(t) for t in texts if t)

    def holds(self, piece: str) -> bool:
        """Whether ``piece`` is data: no words, found in the corpus, or a message of the
        validator (pydantic) quoted in a refusal."""
        piece = _normal(_MARKER.sub(" ", piece))
        if not _WORDS.search(piece) or piece in self.text:
            return True
        return any(p.fullmatch(piece) for p in self._validation)


def _leftovers(message: str) -> list[str]:
    """The pieces of ``message`` outside rendered text, split where code joins data."""
    pieces: list[str] = []
    for part in RENDERED.split(message):
        pieces.extend(p for chunk in part.split("\n") for p in chunk.split(", ") if p.strip())
    return pieces


def _inputs() -> list[str]:
    texts: list[str] = []
    for path in sorted(WHO_AND_WHEN.rglob("*.json")):
        texts.extend(_strings(json.loads(path.read_text(encoding="utf-8"))))
    texts.extend(_source_literals(HERE / "_rr_cassettes.py"))
    texts.append(skillbook().as_prompt())
    return texts


def _run(scenario: Scenario) -> tuple[list[RecordedRequest], list[RecordedRequest], list[str]]:
    main = ScriptedModel(scenario.replies)
    sub = FunctionModel(sub_reply)
    outcome = scenario.run(scenario.step(main.name, sub.name if scenario.uses_sub else None))
    produced = [text for _, transcript in outcome for text in _outputs(transcript)]
    return main.requests, sub.requests, [*scenario.replies, *produced]


@pytest.fixture(scope="module")
def kernel_messages() -> list[str]:
    """What the kernel itself says when a FINAL_VAR names no variable (data the RR quotes)."""
    from sandbox import FetchError, Sandbox

    with Sandbox() as kernel:
        try:
            kernel.fetch("missing_name")
        except FetchError as exc:
            return [str(exc)]
    raise AssertionError("fetching a missing name did not fail")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_model_facing_text_of_a_session_is_rendered(
    instrumented: Path, scenario: Scenario, kernel_messages: list[str]
) -> None:
    main_requests, sub_requests, produced = _run(scenario)
    corpus = Corpus(_inputs() + produced + kernel_messages)
    phrases = _literal_phrases()
    assert main_requests, "the scenario sent nothing"
    checked = 0
    for request in main_requests:
        for message in request.messages:
            content = str(message["content"])
            if message["role"] == "assistant":
                assert content in scenario.replies or not RENDERED.sub("", content).strip()
                continue
            assert RENDERED.search(content), f"a {message['role']} message was not rendered"
            for piece in _leftovers(content):
                assert corpus.holds(piece), f"not from prompts/ and not data: {piece[:200]!r}"
                checked += 1
    for request in [*main_requests, *sub_requests]:
        for message in request.messages:
            outside = _normal(RENDERED.sub(" ", str(message["content"])))
            for phrase in phrases:
                assert phrase not in outside, f"written in code, not prompts/: {phrase!r}"
    assert checked > 0


class Answer(BaseModel):
    """A small structured answer."""

    count: int
    names: list[str]


def test_structured_output_feedback_is_rendered(instrumented: Path) -> None:
    wrong = {"count": "many", "names": ["a", 2]}
    model = ScriptedModel([json.dumps(wrong), json.dumps({"count": 2, "names": ["a", "b"]})])
    result = LLMClient(model.name).structured("How many agents are there?", Answer)
    assert result.value.count == 2 and len(model.requests) == 2
    try:
        TypeAdapter(Answer).validate_python(wrong)
    except ValidationError as exc:
        errors = [
            text for e in exc.errors() for text in (e["msg"], ".".join(str(p) for p in e["loc"]))
        ]
    schema = json.dumps(json_schema(Answer), separators=(",", ":"))
    corpus = Corpus(["How many agents are there?", json.dumps(wrong), schema, *errors])
    for request in model.requests:
        for message in request.messages:
            content = str(message["content"])
            if message["role"] == "assistant":
                assert content == json.dumps(wrong)
                continue
            assert RENDERED.search(content)
            for piece in _leftovers(content):
                assert corpus.holds(piece), f"not from prompts/ and not data: {piece[:200]!r}"
            outside = _normal(RENDERED.sub(" ", content))
            assert not any(phrase in outside for phrase in _literal_phrases())
    feedback = model.requests[1].messages[-1]["content"]
    assert "count" in feedback and "(root)" not in feedback
