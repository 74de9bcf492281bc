"""Child-process entry of the library check: load the model, decode one token, report.

``python -m ace.local_model._smoke MODEL_PATH`` prints one JSON line with llama.cpp's
system info and the token. A build that does not run on this CPU dies here (SIGSEGV,
SIGILL), in a child, where the parent can name the cause.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    """Load ``argv[0]`` with a small context, complete one token, print the report."""
    if len(argv) != 1:
        sys.exit("usage: python -m ace.local_model._smoke MODEL_PATH")
    import llama_cpp

    threads = max(1, len(os.sched_getaffinity(0)))
    model = llama_cpp.Llama(
        model_path=argv[0], n_ctx=256, n_batch=64, n_threads=threads, verbose=False
    )
    reply = model.create_completion("1 + 1 =", max_tokens=1, temperature=0.0)
    info = llama_cpp.llama_print_system_info()
    report = {
        "system_info": info.decode(errors="replace") if isinstance(info, bytes) else str(info),
        "text": reply["choices"][0]["text"],  # type: ignore[index]
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
