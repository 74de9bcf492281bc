"""A stand-in for llama.cpp's server that crashes with SIGSEGV at its first completion.

Run by the server lifecycle tests in place of ``llama_cpp.server``, with the same
arguments (only ``--port`` is read). ``--starts FILE`` (before the server arguments)
appends one line per start, so a test can count restarts. It answers ``GET /v1/models``
like the real server, so it counts as ready, then dies on the first ``POST``, as a
llama.cpp built for another CPU does at its first decode.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "stand-in"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        print("llama_decode: decoding the first batch", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str]) -> None:
    if argv[:1] == ["--starts"]:
        with open(argv[1], "a") as starts:
            starts.write(f"{os.getpid()}\n")
        argv = argv[2:]
    port = int(argv[argv.index("--port") + 1])
    print(f"stand-in llama.cpp server on port {port}", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
