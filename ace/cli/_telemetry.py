"""``--logfire`` and ``--otlp-file``: configure logfire for this command, then flush.

Spans go to Logfire only when ``--logfire`` is given and a token is configured
(``LOGFIRE_TOKEN`` or ``logfire auth``); ``--otlp-file`` alone never uses the network.
Logfire's default scrubbing stays on whenever spans may leave the machine; for a local
file only, it is off, because it would redact trace text that merely mentions words
such as "session" or "password".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Telemetry:
    """An active logfire configuration; ``close`` flushes and shuts it down."""

    logfire: Any
    exporter: Any | None

    @classmethod
    def start(cls, *, logfire: bool, otlp_file: str | None) -> Telemetry:
        """Configure logfire as the flags ask."""
        import logfire as lf
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        processors = []
        exporter = None
        if otlp_file:
            from ace.cli._otlp import OTLPJsonFileExporter

            exporter = OTLPJsonFileExporter(otlp_file)
            processors.append(SimpleSpanProcessor(exporter))
        remote = logfire and bool(os.environ.get("LOGFIRE_TOKEN"))
        lf.configure(
            send_to_logfire="if-token-present" if logfire else False,
            service_name="ace",
            console=False,
            additional_span_processors=processors,
            scrubbing=None if remote else False,
            inspect_arguments=False,
        )
        return cls(logfire=lf, exporter=exporter)

    def close(self) -> None:
        """Flush every span, then close the file."""
        self.logfire.force_flush()
        if self.exporter is not None:
            self.exporter.shutdown()
