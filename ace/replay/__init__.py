"""Record a session's model calls to a cassette, and replay them deterministically.

::

    with Recorder(model="openai/gpt-4o") as recorder:
        ...                                   # any ACE code that calls models
    recorder.save("cassette.json")

    replayer = Replayer.from_file("cassette.json")
    LLMClient(replayer.model_name())          # "replay/cassette-1/openai/gpt-4o"

Replay goes through litellm like any provider. Requests match by model, message content
and occurrence; a request with no match raises :class:`ReplayMismatchError` naming the
first difference. On the command line: ``--record cassette.json`` and
``--model replay:cassette.json``. Importing this package does not import litellm.
"""

from __future__ import annotations

from ace.replay.cassette import Cassette, Interaction, RecordedReply, request_key
from ace.replay.recorder import Recorder
from ace.replay.replayer import PROVIDER, Replayer, ReplayMismatchError

__all__ = [
    "PROVIDER",
    "Cassette",
    "Interaction",
    "RecordedReply",
    "Recorder",
    "ReplayMismatchError",
    "Replayer",
    "request_key",
]
