"""The C client library (libpodpulse-client) against the real daemon.

tests/client/client_driver.c wraps the library in a line protocol on its
stdin and stdout, so that this test can stop and restart the daemon between
the library's calls. Every signal call is timed by the driver; the bound
asserted here (CALL_MS) is a bound on blocking, not a benchmark.
"""

import json
import signal
import subprocess

import harness
from harness import Client, daemon, wait_for

INI = "[monitor]\nreport_interval = 200ms\n"
CALL_MS = 50.0


class Driver:
    def __init__(self, socket_path, backoff_max_ms=100, buffer_size=0):
        if not harness.ARGS.client_driver:
            raise AssertionError("run with --client-driver PATH")
        self.proc = subprocess.Popen([harness.ARGS.client_driver], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.new = self.call("new %s %d %d" % (socket_path, backoff_max_ms, buffer_size))

    def call(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise AssertionError("the driver died on %r" % line)
        return json.loads(out)

    def close(self):
        freed = self.call("free")
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0
        return freed


def succeeded(d):
    return sum(r["predictions"]["succeeded"] for r in d.reports_of("instance_state"))


def test_signals_reach_state_and_reports(workdir):
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path)
    assert drv.new["connected"] == 1, drv.new
    r = drv.call("setup")
    assert r["errors"] == 0 and r["max_call_ms"] < CALL_MS, r
    # start, then the state shows the prediction in flight.
    r = drv.call("pairs p 3")
    assert r["errors"] == 0, r
    # setup start + 2 setup log lines + setup done + 3 pairs
    r = drv.call("wait_sent 10 5000")
    assert r["sent"] == 10 and r["dropped"] == 0, r
    c = Client(d.socket_path)
    st = wait_for(lambda: (lambda s: s["setup"]["status"] == "ready" and s)(c.state()), 5,
                  "setup ready in the state")
    assert st["state"] == "idle" and st["level"] == 0, st
    out = subprocess.run([harness.ARGS.cli, "-s", d.socket_path, "state"],
                         capture_output=True, text=True, timeout=10)
    assert json.loads(out.stdout)["setup"]["status"] == "ready", out
    wait_for(lambda: succeeded(d) == 3, 5, "3 succeeded predictions in the reports")
    setup = d.wait_reports("setup_run", 1)[0]
    assert setup["status"] == "ready" and "loading weights\n  done" in setup["logs"], setup
    drv.close()
    assert d.stop() == 0
    assert succeeded(d) == 3


def test_in_flight_prediction_is_visible_in_state(workdir):
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path)
    c = Client(d.socket_path)
    assert drv.call("start live-1")["return"] == 0
    wait_for(lambda: c.state()["level"] == 1, 5, "level 1 after the library's start")
    assert c.state()["state"] == "active"
    assert drv.call("stop live-1 failed")["return"] == 0
    wait_for(lambda: c.state()["level"] == 0, 5, "level 0 after the library's stop")
    drv.close()
    assert d.stop() == 0
    failed = sum(r["predictions"]["failed"] for r in d.reports_of("instance_state"))
    assert failed == 1


def test_invalid_arguments_are_refused_and_counted(workdir):
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path)
    r = drv.call("invalid")
    assert r["invalid_ok"] == r["expected"], r
    r = drv.call("wait_sent 2 5000")
    # Ten invalid calls dropped; the two valid ones (a 128-byte id) sent.
    assert r["sent"] == 2 and r["dropped"] == 10, r
    drv.close()
    assert d.stop() == 0
    canceled = sum(r["predictions"]["canceled"] for r in d.reports_of("instance_state"))
    assert canceled == 1
    assert not [l for l in d.log_lines() if "bad-arguments" in l]


def test_daemon_down_calls_return_at_once_and_reconnect(workdir):
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path, backoff_max_ms=100)
    assert drv.call("wait_connected 5000")["connected"] == 1
    assert d.stop() == 0
    r = wait_for(lambda: (lambda s: s["connected"] == 0 and s)(drv.call("stats")), 5,
                 "the client to notice the daemon went away")
    r = drv.call("pairs down 50")
    assert r["max_call_ms"] < CALL_MS, r
    assert r["dropped"] >= 100 and r["sent"] == 0, r
    assert drv.call("setup")["max_call_ms"] < CALL_MS
    # Same socket path: the daemon comes back, the client finds it.
    d2 = daemon(workdir, INI)
    r = drv.call("wait_connected 5000")
    assert r["connected"] == 1 and r["reconnects"] >= 1, r
    r = drv.call("pairs up 5")
    assert r["max_call_ms"] < CALL_MS, r
    r = drv.call("wait_sent 10 5000")
    assert r["sent"] == 10, r
    wait_for(lambda: succeeded(d2) == 5, 5, "5 succeeded predictions after the reconnect")
    drv.close()
    assert d2.stop() == 0
    assert succeeded(d2) == 5


def test_daemon_never_there(workdir):
    path = workdir + "/nobody.sock"
    drv = Driver(path, backoff_max_ms=5000)
    assert drv.new["connected"] == 0
    r = drv.call("pairs nobody 100")
    assert r["max_call_ms"] < CALL_MS and r["dropped"] == 200 and r["sent"] == 0, r
    # free does not wait out the backoff.
    assert drv.close()["free_ms"] < 1000


def test_eight_threads_lose_nothing(workdir):
    threads, n = 8, 500
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path)
    r = drv.call("threads t %d %d" % (threads, n))
    assert r["errors"] == 0 and r["max_call_ms"] < CALL_MS, r
    r = drv.call("wait_sent %d 20000" % (2 * threads * n))
    assert r["sent"] == 2 * threads * n and r["dropped"] == 0, r
    c = Client(d.socket_path)
    wait_for(lambda: c.state()["level"] == 0 and succeeded(d) == threads * n, 10,
             "%d succeeded predictions" % (threads * n))
    drv.close()
    assert d.stop(signal.SIGTERM) == 0
    reports = d.reports_of("instance_state")
    assert reports[-1]["final"] is True
    assert succeeded(d) == threads * n
    assert sum(r["predictions"]["started"] for r in reports) == threads * n


def test_full_buffer_drops_and_counts(workdir):
    # A tiny buffer and a burst: some lines are dropped, none is half sent,
    # and every signal is either sent or dropped.
    d = daemon(workdir, INI)
    drv = Driver(d.socket_path, buffer_size=256)
    r = drv.call("pairs burst 2000")
    assert r["max_call_ms"] < CALL_MS, r
    r = wait_for(lambda: (lambda s: s["sent"] + s["dropped"] == 4000 and s)(drv.call("stats")),
                 10, "every signal sent or dropped")
    assert r["dropped"] > 0, r
    drv.close()
    c = Client(d.socket_path)
    assert c.call("ping") == "pong"
    assert d.stop() == 0
    # A half-written line would show up as one of these.
    errors = [l for l in d.log_lines()
              if "bad-arguments" in l or "unknown-command" in l or "bad-status" in l]
    assert not errors, errors[:5]


if __name__ == "__main__":
    harness.main(globals())
