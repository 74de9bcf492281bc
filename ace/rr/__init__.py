"""The Recursive Reflector: analyses a trace by writing Python over it in a sandbox.

``from ace.rr import RRStep, RRConfig``. See RR_DESIGN.md for the design.
"""

from ace.rr.config import RRConfig
from ace.rr.ledger import Ledger
from ace.rr.run_ledger import RunLedger
from ace.rr.session import ProgressEvent, RRResult
from ace.rr.step import RRStep
from ace.rr.transcript import Transcript

__all__ = [
    "Ledger",
    "ProgressEvent",
    "RRConfig",
    "RRResult",
    "RRStep",
    "RunLedger",
    "Transcript",
]
