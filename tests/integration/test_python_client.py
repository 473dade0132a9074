"""The Python client (clients/python/podpulse) against the real daemon.

Every signal call made while the daemon is away is timed; the bound asserted
(CALL_S) is a bound on blocking, not a benchmark.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import harness
from harness import Client, daemon, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import podpulse  # noqa: E402

INI = "[monitor]\nreport_interval = 200ms\n"
CALL_S = 0.050


def count(d, status):
    return sum(r["predictions"][status] for r in d.reports_of("instance_state"))


def wait_sent(pulse, n, timeout=10.0):
    return wait_for(lambda: pulse.stats().sent >= n and pulse.stats(), timeout,
                    "%d lines sent (stats: %s)" % (n, pulse.stats()))


class Interrupted(KeyboardInterrupt):
    pass


def test_predictions_reach_state_and_reports(workdir):
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path)
    assert pulse.stats().connected
    assert pulse.setup_start()
    assert pulse.setup_log("loading weights\n  done\n")
    assert pulse.setup_done("ready")
    c = Client(d.socket_path)
    with pulse.prediction("p-ok", model="m1", tenant="acme") as p:
        wait_for(lambda: c.state()["level"] == 1, 5, "level 1 inside the with block")
        assert c.state()["state"] == "active"
        p.set(output_tokens=12)
    try:
        with pulse.prediction("p-fail"):
            raise RuntimeError("model crashed")
    except RuntimeError:
        pass
    else:
        raise AssertionError("the exception was swallowed")
    try:
        with pulse.prediction("p-int"):
            raise Interrupted()
    except KeyboardInterrupt:
        pass

    def stream():
        with pulse.prediction("p-stream"):
            yield "token 1"
            yield "token 2"

    tokens = stream()
    assert next(tokens) == "token 1"
    tokens.close()  # the HTTP client went away mid-stream
    wait_sent(pulse, 4 + 8)
    st = wait_for(lambda: (lambda s: s["level"] == 0 and s)(c.state()), 5, "level 0")
    assert st["state"] == "idle" and st["setup"]["status"] == "ready", st
    out = subprocess.run([harness.ARGS.cli, "-s", d.socket_path, "state"],
                         capture_output=True, text=True, timeout=10)
    assert json.loads(out.stdout)["state"] == "idle", out
    wait_for(lambda: count(d, "succeeded") == 1 and count(d, "failed") == 1
             and count(d, "canceled") == 2, 5, "1 succeeded, 1 failed, 2 canceled reported")
    setup = d.wait_reports("setup_run", 1)[0]
    assert setup["status"] == "ready" and "loading weights\n  done\n" in setup["logs"], setup
    pulse.close()
    assert d.stop() == 0
    assert pulse.stats().dropped == 0


def test_descriptors_past_1023(workdir):
    """A model server with many open files: the client's sockets get
    descriptors past select()'s limit and it must still work."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1200
    if hard != resource.RLIM_INFINITY and hard < want:
        want = hard  # the test still passes below 1024; it then proves less
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    held = []
    try:
        while len(held) < want - 100:
            held.append(os.open("/dev/null", os.O_RDONLY))
        d = daemon(workdir, INI)
        pulse = podpulse.Pulse(d.socket_path)
        assert pulse._wake_r.fileno() >= 1024 or want < 1124, pulse._wake_r.fileno()
        with pulse.prediction("p-high-fd"):
            pass
        wait_sent(pulse, 2)
        assert pulse.stats().connected and pulse.stats().dropped == 0, pulse.stats()
        pulse.close()
        assert d.stop() == 0
        assert count(d, "succeeded") == 1
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_async_with_and_cancellation(workdir):
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path)

    async def predict(pid, fail=False, sleep=0.0):
        async with pulse.prediction(pid, model="async") as p:
            await asyncio.sleep(sleep)
            if fail:
                raise ValueError("bad input")
            p.set(output_tokens=1)

    async def main():
        await predict("a-ok")
        try:
            await predict("a-fail", fail=True)
        except ValueError:
            pass
        task = asyncio.ensure_future(predict("a-cancel", sleep=10))
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    wait_sent(pulse, 6)
    wait_for(lambda: count(d, "succeeded") == 1 and count(d, "failed") == 1
             and count(d, "canceled") == 1, 5, "1 succeeded, 1 failed, 1 canceled reported")
    pulse.close()
    assert d.stop() == 0


def test_daemon_down_calls_return_at_once_and_reconnect(workdir):
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path, backoff_min=0.02, backoff_max=0.1)
    assert pulse.stats().connected
    assert d.stop() == 0
    wait_for(lambda: not pulse.stats().connected, 5, "the client to notice the daemon left")
    worst = 0.0
    calls = [lambda i: pulse.start("down-%d" % i, model="m"),
             lambda i: pulse.stop("down-%d" % i, "succeeded"),
             lambda i: pulse.setup_log("line %d" % i)]
    for i in range(50):
        for call in calls:
            t0 = time.monotonic()
            assert call(i) is False
            worst = max(worst, time.monotonic() - t0)
    assert worst < CALL_S, worst
    st = pulse.stats()
    assert st.dropped == 150 and st.sent == 0, st
    # The daemon comes back on the same path; the client finds it.
    d2 = daemon(workdir, INI)
    wait_for(lambda: pulse.stats().connected, 5, "the client to reconnect")
    assert pulse.stats().reconnects >= 1
    for i in range(5):
        with pulse.prediction("up-%d" % i):
            pass
    wait_sent(pulse, 10)
    wait_for(lambda: count(d2, "succeeded") == 5, 5, "5 succeeded after the reconnect")
    pulse.close()
    assert d2.stop() == 0
    assert count(d2, "succeeded") == 5


def test_daemon_never_there(workdir):
    pulse = podpulse.Pulse(os.path.join(workdir, "nobody.sock"), backoff_max=5.0)
    t0 = time.monotonic()
    for i in range(100):
        pulse.start("n-%d" % i)
    assert time.monotonic() - t0 < 100 * CALL_S
    assert pulse.stats() == podpulse.Stats(0, 100, 0, False)
    t0 = time.monotonic()
    pulse.close()
    assert time.monotonic() - t0 < 1.0, "close waited out the backoff"


def test_invalid_arguments_are_dropped_not_raised(workdir):
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path)
    assert pulse.start("") is False
    assert pulse.start("has space") is False
    assert pulse.start("x" * 129) is False
    assert pulse.start(None) is False
    assert pulse.start("p", **{"Model": "x"}) is False
    assert pulse.start("p", model="a b") is False
    assert pulse.start("p", **{"k%d" % i: 1 for i in range(17)}) is False
    assert pulse.stop("p", "done") is False
    assert pulse.setup_done("maybe") is False
    assert pulse.enqueue("x" * 128, model="ok") is True
    assert pulse.stop("x" * 128, "aborted") is True
    wait_sent(pulse, 2)
    assert pulse.stats().dropped == 9
    pulse.close()
    assert d.stop() == 0
    assert count(d, "aborted") == 1
    assert not [l for l in d.log_lines() if "bad-arguments" in l]


def test_threads_and_tasks_lose_nothing(workdir):
    threads, tasks, n = 8, 8, 300
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path)
    worst = [0.0]
    lock = threading.Lock()

    def work(t):
        for i in range(n):
            t0 = time.monotonic()
            with pulse.prediction("th-%d-%d" % (t, i), model="m"):
                pass
            with lock:
                worst[0] = max(worst[0], time.monotonic() - t0)

    async def task(t):
        for i in range(n):
            async with pulse.prediction("as-%d-%d" % (t, i), model="m"):
                await asyncio.sleep(0)

    async def tasks_main():
        await asyncio.gather(*(task(t) for t in range(tasks)))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    asyncio.run(tasks_main())
    for t in ts:
        t.join(60)
    total = (threads + tasks) * n
    st = wait_sent(pulse, 2 * total, 30)
    assert st.sent == 2 * total and st.dropped == 0, st
    pulse.close()
    assert d.stop(signal.SIGTERM) == 0
    reports = d.reports_of("instance_state")
    assert reports[-1]["final"] is True
    assert count(d, "succeeded") == total, count(d, "succeeded")
    assert count(d, "started") == total
    assert count(d, "aborted") == 0


def test_wire_format_and_a_peer_that_does_not_read(workdir):
    # A fake daemon that the test controls: the exact bytes, then a peer
    # that stops reading (the real daemon always reads).
    path = os.path.join(workdir, "fake.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(4)
    pulse = podpulse.Pulse(path, buffer_size=4096)
    conn, _ = lsock.accept()
    conn.settimeout(5)
    pulse.setup_log("a\n  b")
    pulse.setup_done()
    with pulse.prediction("w1", model="m", tenant="a.b") as p:
        p.set(output_tokens=3)
    pulse.enqueue("w2")
    pulse.stop("w2", "aborted")
    want = (b"setup log a\nsetup log   b\nsetup done ready\n"
            b"start w1 model=m tenant=a.b\nstop w1 succeeded output_tokens=3\n"
            b"enqueue w2\nstop w2 aborted\n")
    got = b""
    while len(got) < len(want):
        got += conn.recv(65536)
    assert got == want, got
    wait_sent(pulse, 7)
    worst, total = 0.0, 0
    for i in range(50000):
        t0 = time.monotonic()
        pulse.start("t-%d" % i)
        pulse.stop("t-%d" % i, "succeeded")
        worst = max(worst, time.monotonic() - t0)
        total += 2
    assert worst < CALL_S, worst
    assert pulse.stats().dropped > 0
    data = b""
    conn.settimeout(0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = pulse.stats()
        try:
            chunk = conn.recv(1 << 20)
        except socket.timeout:
            chunk = b""
        data += chunk
        if not chunk and st.sent + st.dropped == total + 7:
            break
    assert st.sent + st.dropped == total + 7, st
    lines = data.split(b"\n")
    assert lines.pop() == b""
    for line in lines:
        assert re.fullmatch(rb"start t-\d+|stop t-\d+ succeeded", line), line
    assert len(lines) == st.sent - 7, (len(lines), st)
    pulse.close()
    conn.close()
    lsock.close()


def test_backoff_after_short_connections(workdir):
    # A daemon at its connection cap accepts and closes at once: the client
    # backs off between those short connections (0.01, 0.02, 0.04, 0.04 s,
    # ...: about 15 in half a second) instead of spinning.
    path = os.path.join(workdir, "cap.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(8)
    lsock.settimeout(0.01)
    pulse = podpulse.Pulse(path, backoff_min=0.01, backoff_max=0.04)
    accepts = 0
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        conn.close()
        accepts += 1
    pulse.close()
    lsock.close()
    assert 3 <= accepts <= 30, accepts


def test_forked_child_gets_its_own_connection(workdir):
    d = daemon(workdir, INI)
    pulse = podpulse.Pulse(d.socket_path)
    c = Client(d.socket_path)
    wait_for(lambda: c.state()["connections"] == 2, 5, "2 connections")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with pulse.prediction("child-1"):
                pass
            deadline = time.monotonic() + 5
            while pulse.stats().sent < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            code = 0 if pulse.stats().sent >= 2 else 1
            pulse.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    with pulse.prediction("parent-1"):
        pass
    wait_sent(pulse, 2)
    wait_for(lambda: count(d, "succeeded") == 2, 5, "the child's and the parent's prediction")
    pulse.close()
    assert d.stop() == 0
    assert count(d, "aborted") == 0 and count(d, "succeeded") == 2


if __name__ == "__main__":
    harness.main(globals())
