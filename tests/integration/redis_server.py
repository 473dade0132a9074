"""Real redis-server processes for the scalestate tests, and a tiny RESP client.

Python 3 stdlib only: each Redis runs on a free port (and a unix socket when
asked), without persistence, in the test's directory, and is stopped when
the test ends (see `servers`).
"""

import os
import signal
import socket
import subprocess
import time

from harness import wait_for
from harness import free_port  # noqa: F401 (re-exported for the tests)


class RedisError(Exception):
    pass


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise AssertionError("bad RESP reply %r" % line)


class Redis:
    """A redis-server on a free port; cmd() sends one command and returns its reply."""

    def __init__(self, workdir, name="redis", password=None, unix=False, extra=()):
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.password = password
        self.unix_path = os.path.join(workdir, name + ".sock") if unix else None
        self.extra = list(extra)
        self.proc = None
        self.sock = None

    def start(self):
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", self.workdir,
               "--dbfilename", self.name + ".rdb"]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.unix_path:
            cmd += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(cmd + self.extra, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self._up, 10, "redis-server %s on port %d" % (self.name, self.port))
        return self

    def _up(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, ConnectionError):
            self._close()
            return False

    def url(self, auth=""):
        return "redis://%s127.0.0.1:%d" % (auth + "@" if auth else "", self.port)

    def _close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def cmd(self, *args):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.reader = _Reader(self.sock)
            if self.password:
                self.sock.sendall(_encode(["AUTH", self.password]))
                self.reader.reply()
        try:
            self.sock.sendall(_encode(args))
            r = self.reader.reply()
        except (OSError, ConnectionError):
            self._close()
            raise
        if isinstance(r, RedisError):
            raise r
        return r

    def stop(self):
        self._close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class servers:
    """with servers(workdir) as make: make(...) starts Redis; all stop at exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []

    def __enter__(self):
        def make(name, **kw):
            r = Redis(self.workdir, name, **kw).start()
            self.started.append(r)
            return r
        return make

    def __exit__(self, *exc):
        for r in self.started:
            r.stop()
        return False


def deadline_loop(timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        yield
        time.sleep(0.02)
