#!/usr/bin/env python3
"""A webhook + Telegram Bot API stand-in for tests: records every POST as one JSON line.

    receiver.py --bind 127.0.0.1 --port 0 --log requests.jsonl [--status 200] [--pidfile F]

Prints `listening on HOST:PORT` once it accepts connections. Each request is
appended to --log as {"path", "headers", "body"} (body parsed as JSON when it
is JSON). Answers --status with `{"ok": true}` (what Telegram's sendMessage
answers) or, for a status >= 400, `{"ok": false}`. Standard library only, so
it runs in the lab's control namespace with any python3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def make_handler(log_path, status):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            entry = {"path": self.path, "headers": dict(self.headers), "body": body}
            with LOCK, open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            out = json.dumps({"ok": status < 400, "result": {}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *_args):
            pass

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True)
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--pidfile")
    args = p.parse_args(argv)
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(args.log, args.status))
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())
    print("listening on %s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
