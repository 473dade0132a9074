"""A real HTTP/1.1 report receiver for the delivery tests, scriptable per request.

Each request takes the next action of the script (then the default, 200):
  ("status", code)                       answer with that status
  ("status", code, {"Retry-After": "1"}) with headers
  ("status", code, headers, body)        and a body
  ("hang", seconds)                      read the request, answer nothing for a while
  ("raw", bytes)                         write these bytes as the answer, then close
  a callable                             called at the request, returns one of the above
Every request is recorded (path, headers, body, monotonic time) before it is
answered, so tests can count attempts and compare exact bytes.
"""

import http.server
import json
import ssl
import threading
import time
from harness import free_port  # noqa: F401 (re-exported for the tests)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        rx = self.server.receiver
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        action = rx._record(self.path, self.headers, body, self.client_address)
        kind = action[0]
        if kind == "hang":
            rx.release.wait(action[1])
            self.close_connection = True
            return
        if kind == "raw":
            self.wfile.write(action[1])
            self.wfile.flush()
            self.close_connection = True
            return
        code = action[1]
        headers = action[2] if len(action) > 2 else {}
        answer = action[3].encode() if len(action) > 3 else b""
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class Receiver:
    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls  # (certfile, keyfile) or None
        self.requests = []
        self.script = []
        self.release = threading.Event()
        self.cond = threading.Condition()
        self.server = None

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def url(self, path="/instance_state"):
        return self.base + path

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.receiver = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        self.release.set()

    def _record(self, path, headers, body, peer):
        with self.cond:
            self.requests.append({"path": path, "headers": dict(headers.items()),
                                  "body": body, "t": time.monotonic(), "peer": peer})
            action = self.script.pop(0) if self.script else ("status", 200)
            self.cond.notify_all()
            return action() if callable(action) else action

    def snapshot(self):
        with self.cond:
            return list(self.requests)

    def wait_requests(self, count, timeout=15.0, what=None):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; got %d request(s): %s" % (
                        what or "%d request(s)" % count, len(self.requests),
                        [r["headers"].get("Idempotency-Key") for r in self.requests]))
                self.cond.wait(left)
            return list(self.requests)

    def wait_until(self, pred, timeout=15.0, what="a condition on the requests"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; got %s" % (
                        what, [r["headers"].get("Idempotency-Key") for r in self.requests]))
                self.cond.wait(min(left, 0.2))
            return list(self.requests)


def bodies(requests):
    return [json.loads(r["body"]) for r in requests]
