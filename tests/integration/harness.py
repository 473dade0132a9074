"""Harness for podpulse's end-to-end tests: the real binaries, the real socket.

Each test file imports this module, defines functions named test_*, and ends
with `harness.main(globals())`. A test gets a fresh temporary directory; a
Daemon started there is always stopped (and its exit status checked by the
test that cares) when the test ends.

Waiting is always for a condition with a deadline (wait_for), never a bare
sleep: a test passes as soon as the daemon does what it should, and fails
with a message saying what it waited for.
"""

import argparse
import json
import os
import queue
import shutil
import signal
from signal import SIGTERM
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ARGS = None


def wait_for(cond, timeout=10.0, what="condition", interval=0.005):
    """Poll cond() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Daemon:
    """A podpulse process with its stdout reports and stderr logs collected."""

    def __init__(self, workdir, ini="", env=None, args=(), name="podpulse"):
        self.workdir = workdir
        self.socket_path = os.path.join(workdir, name + ".sock")
        self.config_path = os.path.join(workdir, name + ".ini")
        # Every daemon gets its own HTTP port, so tests can run in parallel.
        self.http_port = free_port()
        base = "[socket]\npath = %s\n[http]\nlisten = 127.0.0.1:%d\n" % (
            self.socket_path, self.http_port)
        with open(self.config_path, "w") as f:
            f.write(merge_ini(base, ini))
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("PODPULSE_") or k in SEED_ENV:
                del self.env[k]
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.lines = queue.Queue()
        self.reports = []
        self.logs = []
        self.stdout_raw = []
        self._lock = threading.Lock()

    def start(self, wait=True):
        cmd = [ARGS.podpulse, "-c", self.config_path] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env, cwd=self.workdir)
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.readers:
            t.start()
        if wait:
            wait_for(lambda: self.ready() or self.proc.poll() is not None, 10,
                     "the daemon to listen on " + self.socket_path)
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited %s at start: %s" % (self.proc.returncode, self.logs))
        return self

    def ready(self):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.socket_path)
            s.close()
            return True
        except OSError:
            return False

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            with self._lock:
                self.stdout_raw.append(line)
                try:
                    self.reports.append(json.loads(line))
                except ValueError:
                    pass

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.logs.append(line)

    def reports_of(self, kind):
        with self._lock:
            return [r for r in self.reports if r.get("kind") == kind]

    def wait_reports(self, kind, count, timeout=15.0):
        return wait_for(lambda: len(self.reports_of(kind)) >= count and self.reports_of(kind),
                        timeout, "%d %s report(s)" % (count, kind))

    def log_lines(self):
        with self._lock:
            return list(self.logs)

    def wait_log(self, text, timeout=10.0):
        return wait_for(lambda: [l for l in self.log_lines() if text in l], timeout,
                        "a log line containing %r" % text)

    def signal(self, sig):
        self.proc.send_signal(sig)

    # Not signal.SIGTERM: in this class body `signal` is the method above.
    def stop(self, sig=SIGTERM, timeout=15.0):
        """Signal the daemon and return its exit status once it has exited."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("daemon did not exit within %.0fs of signal %d" % (timeout, sig))
        # The readers end at EOF of both pipes: everything printed is collected.
        for t in self.readers:
            t.join(5)
        return code

    def wait_exit(self, timeout=10.0):
        """Wait for an exit the daemon makes by itself; collect its output."""
        code = self.proc.wait(timeout)
        for t in self.readers:
            t.join(5)
        return code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


SEED_ENV = ("POD_NAME", "POD_NAMESPACE", "NODE_NAME", "POD_SCHEDULED_AT",
            "DIRECTOR_REPORT_INSTANCE_STATE_URL", "DIRECTOR_REPORT_SETUP_RUN_URL",
            "WEBHOOK_AUTH_TOKEN")


def merge_ini(base, extra):
    """Append extra INI text; a section of base that extra also has is
    merged into extra's (extra's keys come later, so they win)."""
    out = extra
    rest = []
    for chunk in base.split("[")[1:]:
        header, body = chunk.split("]", 1)
        tag = "[" + header + "]"
        if tag in out:
            head, tail = out.split(tag, 1)
            out = head + tag + body.rstrip("\n") + tail
        else:
            rest.append(tag + body)
    return "".join(rest) + "\n" + out


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(port, method, path, body=None, headers=None, timeout=10.0,
         chunked=False):
    """One HTTP request; returns (status, headers dict, body bytes)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {},
                  encode_chunked=chunked)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


class Client:
    """One connection to the daemon's socket."""

    def __init__(self, path, ack=False, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        if ack:
            self.send("hello 1 ack")

    def send(self, line):
        data = line.encode() if isinstance(line, str) else line
        if not data.endswith(b"\n"):
            data += b"\n"
        self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed by the daemon")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def call(self, line):
        self.send(line)
        return self.readline()

    def state(self):
        return json.loads(self.call("state"))

    def close(self):
        self.sock.close()


def cli(*args, input=None, timeout=60):
    return subprocess.run([ARGS.cli] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout)


def main(namespace):
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--podpulse", required=True)
    p.add_argument("--cli", required=True)
    p.add_argument("--client-driver", default=None,
                   help="the C client library's test driver (tests/client)")
    p.add_argument("-k", dest="only", default=None, help="run tests whose name contains this")
    ARGS = p.parse_args()
    # The daemon runs with its test's directory as cwd: resolve the
    # binaries now, so that relative paths such as build/podpulse work.
    ARGS.podpulse = os.path.abspath(ARGS.podpulse)
    ARGS.cli = os.path.abspath(ARGS.cli)
    if ARGS.client_driver:
        ARGS.client_driver = os.path.abspath(ARGS.client_driver)
    tests = [(n, f) for n, f in sorted(namespace.items())
             if n.startswith("test_") and callable(f) and (ARGS.only is None or ARGS.only in n)]
    passed = failed = 0
    for name, fn in tests:
        workdir = tempfile.mkdtemp(prefix="pp-")
        started = time.monotonic()
        daemons = []
        _TRACK.append(daemons)
        try:
            fn(workdir)
            passed += 1
            print("PASS %s (%.2fs)" % (name, time.monotonic() - started), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)" % (name, time.monotonic() - started), flush=True)
            traceback.print_exc()
            for d in daemons:
                print("--- daemon logs ---\n" + "\n".join(d.log_lines()[-40:]), flush=True)
        finally:
            for d in daemons:
                d.kill()
            _TRACK.pop()
            shutil.rmtree(workdir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not tests else 0)


_TRACK = []


def daemon(workdir, ini="", start=True, **kw):
    """A daemon that is killed when the test ends, whatever happens."""
    d = Daemon(workdir, ini, **kw)
    if _TRACK:
        _TRACK[-1].append(d)
    if start:
        d.start()
    return d
