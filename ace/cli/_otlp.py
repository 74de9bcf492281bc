"""An OpenTelemetry span exporter that writes OTLP JSON lines to a file (no network).

Each export appends one line holding an ``ExportTraceServiceRequest`` in the OTLP/JSON
encoding (trace and span ids as hex), the format the OpenTelemetry Collector's file
exporter writes and its ``otlpjsonfile`` receiver reads.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


class OTLPJsonFileExporter(SpanExporter):
    """Appends finished spans to ``path`` as OTLP JSON, one request per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode and append the spans (pending-span placeholders are skipped)."""
        from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        finished = [s for s in spans if _is_finished(s)]
        if not finished:
            return SpanExportResult.SUCCESS
        document = _hex_ids(MessageToDict(encode_spans(finished), use_integers_for_enums=True))
        line = json.dumps(document, separators=(",", ":"))
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(line + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Everything is written at export time."""
        return True


def _is_finished(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return attributes.get("logfire.span_type") != "pending_span"


def _hex_ids(value: Any) -> Any:
    """protobuf's JSON gives bytes as base64; OTLP/JSON wants trace and span ids in hex."""
    if isinstance(value, dict):
        return {
            key: (
                base64.b64decode(item).hex()
                if key in _ID_KEYS and isinstance(item, str)
                else _hex_ids(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value
