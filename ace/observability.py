"""Opt-in logfire tracing for library users (``ACELiteLLM(..., logfire=True)``).

The RR's spans (``ace.rr._tracing``) and ``ObservabilityStep`` are emitted only once
logfire is configured in the process; this configures it the way the ``ace`` CLI does:
spans leave the machine only when a Logfire token is set (``LOGFIRE_TOKEN`` or
``logfire auth``), with logfire's scrubbing on, and nothing is printed to the console.
"""

from __future__ import annotations

from ace.errors import ConfigurationError


def configure_logfire() -> bool:
    """Configure logfire unless it already is; True once it is configured.

    Raises ``ConfigurationError`` naming the install command when logfire is missing.
    A configuration you made yourself (``logfire.configure(...)``) is kept as it is.
    """
    try:
        import logfire
    except ImportError as exc:  # pragma: no cover - logfire is a core dependency
        raise ConfigurationError(
            "logfire=True needs the logfire package: pip install logfire"
        ) from exc
    from ace.rr._tracing import tracing_enabled

    if not tracing_enabled():
        logfire.configure(
            send_to_logfire="if-token-present",
            service_name="ace",
            console=False,
            inspect_arguments=False,
        )
    return True
