"""The socket protocol of SPEC section 2 and docs/protocol.md, end to end.

Every test talks to the real daemon over its real Unix socket: each error
reason with its exact `err <reason>` prefix (and a state that did not move),
the framing rules (case, CRLF, spaces, many commands per write, one command
over many), the reply rules with and without `ack`, the decisions that
docs/protocol.md records, and robustness against hostile input: floods,
endless lines, binary junk, a client that never reads, and connection churn.

Every test that stops its daemon checks what every run must satisfy: exit
status 0 and reports whose state times add up to their duration.
"""

import json
import random
import re
import signal
import socket
import threading
import time

import harness
from harness import Client, daemon, rss_kib, wait_for

# The state fields that a failed command must leave alone. The interval
# figures move with the clock, so they are not compared.
CORE = ("state", "level", "pending", "in_flight", "connections", "run_id", "setup")

RSS_GROWTH_KIB = 8 * 1024


def core(st):
    missing = [k for k in CORE if k not in st]
    assert not missing, "state lacks %s: %r" % (missing, st)
    return {k: st[k] for k in CORE}


def hwm_kib(pid):
    """Peak resident size so far (VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def expect_err(c, line, reason):
    """Send line on ack connection c: the reply is `err <reason> <detail>`
    and the state is exactly what it was before."""
    before = core(c.state())
    reply = c.call(line)
    assert re.match(r"err %s \S" % re.escape(reason), reply), \
        "%r: expected 'err %s <detail>', got %r" % (line, reason, reply)
    after = core(c.state())
    assert after == before, "%r changed the state:\n before %r\n after  %r" % (line, before, after)
    return reply


def expect_ok(c, line):
    reply = c.call(line)
    assert reply == "ok", "%r: expected 'ok', got %r" % (line, reply)


def expect_state(c, **want):
    st = c.state()
    got = {k: st[k] for k in want}
    assert got == want, "expected state %r, got %r (full: %r)" % (want, got, st)
    return st


def protocol_error_logs(d, reason=None):
    out = []
    for line in d.log_lines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("msg") == "protocol error" and (reason is None or obj.get("reason") == reason):
            out.append(obj)
    return out


def stop_and_check(d):
    """SIGTERM: exit 0, contiguous reports, each adding up exactly. Returns
    the predictions totals over all reports."""
    code = d.stop(signal.SIGTERM)
    assert code == 0, "expected exit status 0 after SIGTERM, got %s; logs: %s" % (
        code, d.log_lines()[-20:])
    reports = d.reports_of("instance_state")
    assert reports, "no instance_state report on stdout: %r" % d.stdout_raw[-5:]
    seqs = [r["sequence"] for r in reports]
    assert seqs == list(range(len(reports))), "sequences not contiguous: %r" % seqs
    assert reports[-1]["final"] is True, "last report not final: %r" % reports[-1]
    for r in reports:
        parts = round((r["boot_time"] + r["idle_time"] + r["active_time"]) * 1000)
        whole = round(r["metric_duration"] * 1000)
        assert parts == whole, "boot+idle+active = %d ms, metric_duration = %d ms in %r" % (
            parts, whole, r)
    return {k: sum(r["predictions"][k] for r in reports)
            for k in ("started", "succeeded", "failed", "canceled", "aborted")}


def raw_socket(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_until_eof(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            raise AssertionError("expected the daemon to close the connection; "
                                 "it stayed open after sending %r" % data)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("no EOF after %d bytes" % len(data))


# Errors, one reason at a time.

ERRORS = [
    # unknown-command
    ("frobnicate", "unknown-command"),
    ("starts a", "unknown-command"),
    ("pingpong", "unknown-command"),
    ("setup", "unknown-command"),
    ("setup bogus", "unknown-command"),
    # bad-arguments: arity, ids, k=v, numeric keys, hello, bare verbs
    ("start", "bad-arguments"),
    ("enqueue", "bad-arguments"),
    ("stop a", "bad-arguments"),
    ("stop", "bad-arguments"),
    ("setup done", "bad-arguments"),
    ("start " + "i" * 129, "bad-arguments"),
    ("start bad\x7fid", "bad-arguments"),
    ("start b model", "bad-arguments"),
    ("start b Model=x", "bad-arguments"),
    ("start b =x", "bad-arguments"),
    ("start b " + "k" * 65 + "=v", "bad-arguments"),
    ("start b " + " ".join("k%d=v" % i for i in range(17)), "bad-arguments"),
    ("stop a succeeded output_tokens=-1", "bad-arguments"),
    ("stop a succeeded output_tokens=1.5", "bad-arguments"),
    ("stop a succeeded images=x", "bad-arguments"),
    ("stop a succeeded ttft_ms=abc", "bad-arguments"),
    ("hello 2", "bad-arguments"),
    ("hello", "bad-arguments"),
    ("hello 1 nack", "bad-arguments"),
    ("ping now", "bad-arguments"),
    ("state now", "bad-arguments"),
    ("setup start now", "bad-arguments"),
    # bad-status
    ("stop a done", "bad-status"),
    ("stop q finished", "bad-status"),
    ("setup done maybe", "bad-status"),
    # duplicate-id
    ("start a", "duplicate-id"),
    ("enqueue a", "duplicate-id"),
    ("enqueue q", "duplicate-id"),
    # unknown-id
    ("stop nope succeeded", "unknown-id"),
    ("stop A succeeded", "unknown-id"),
    # bad-encoding: NUL, and invalid UTF-8 of several kinds
    (b"start a\x00b", "bad-encoding"),
    (b"\x00", "bad-encoding"),
    (b"ping\x00", "bad-encoding"),
    (b"start \xff", "bad-encoding"),
    (b"setup log caf\xc3", "bad-encoding"),
    (b"stop a succeeded model=\xc0\xaf", "bad-encoding"),
    (b"start \xed\xa0\x80", "bad-encoding"),
    (b"start \xf4\x90\x80\x80", "bad-encoding"),
]


def test_every_error_reason_leaves_state_alone(workdir):
    d = daemon(workdir, "[socket]\nmax_line = 256\n[monitor]\nmax_in_flight = 3\n")
    c = Client(d.socket_path, ack=True)
    expect_ok(c, "start a")
    expect_ok(c, "enqueue q")
    expect_state(c, level=1, pending=1, in_flight=1, state="active")
    for line, reason in ERRORS:
        expect_err(c, line, reason)

    # setup-already-done
    expect_ok(c, "setup done ready")
    expect_err(c, "setup done failed", "setup-already-done")
    expect_err(c, "setup done ready", "setup-already-done")
    assert c.state()["setup"]["status"] == "ready"

    # too-many-in-flight: a (in flight) + q (pending) + b = 3 = max_in_flight.
    expect_ok(c, "start b")
    expect_err(c, "start c", "too-many-in-flight")
    expect_err(c, "enqueue c", "too-many-in-flight")
    # Moving q from pending to in flight does not add a prediction.
    expect_ok(c, "start q")
    expect_state(c, level=3, pending=0, in_flight=3)
    expect_err(c, "start c", "too-many-in-flight")
    expect_ok(c, "stop a succeeded")
    expect_ok(c, "enqueue c")
    expect_err(c, "enqueue e", "too-many-in-flight")
    expect_state(c, level=2, pending=1, in_flight=2)
    c.close()
    totals = stop_and_check(d)
    # Only the commands answered `ok` counted; b, q and c went with the connection.
    assert totals == {"started": 3, "succeeded": 1, "failed": 0, "canceled": 0,
                      "aborted": 3}, totals


def test_line_too_long(workdir):
    d = daemon(workdir, "[socket]\nmax_line = 256\n")
    c = Client(d.socket_path, ack=True)
    expect_ok(c, "start keep")

    def line_of(n):
        head = "stop nope succeeded note="
        return head + "v" * (n - len(head))

    # Exactly max_line bytes is parsed; one more is too long.
    expect_err(c, line_of(256), "unknown-id")
    expect_err(c, line_of(257), "line-too-long")
    # The length counts a '\r' before the '\n'.
    expect_err(c, line_of(255) + "\r", "unknown-id")
    expect_err(c, line_of(256) + "\r", "line-too-long")

    # A long line in pieces: one reply, its rest discarded, the next
    # command on the same connection works.
    before = core(c.state())
    long_line = ("start evil " + "x" * 600 + " start evil2\rping").encode()
    for i in range(0, len(long_line), 100):
        c.send_raw(long_line[i:i + 100])
        time.sleep(0.002)
    c.send_raw(b"\nping\n")
    reply = c.readline()
    assert reply.startswith("err line-too-long "), "expected err line-too-long, got %r" % reply
    nxt = c.readline()
    assert nxt == "pong", "expected pong right after the one err, got %r" % nxt
    assert c.call("ping") == "pong"
    assert core(c.state()) == before
    # The same in one write, followed by good commands in the same write.
    c.send_raw(b"y" * 5000 + b"\nstop keep succeeded\nping\n")
    reply = c.readline()
    assert reply.startswith("err line-too-long "), reply
    assert c.readline() == "ok"
    assert c.readline() == "pong"
    expect_state(c, level=0, pending=0)
    c.close()
    totals = stop_and_check(d)
    assert totals["started"] == 1 and totals["succeeded"] == 1, totals


def test_too_many_connections(workdir):
    d = daemon(workdir, "[socket]\nmax_connections = 2\n")
    a = Client(d.socket_path, ack=True)
    # The harness's readiness probe may still count until its close is seen.
    wait_for(lambda: a.state()["connections"] == 1, 5, "connections == 1")
    b = Client(d.socket_path)
    assert b.call("ping") == "pong"
    before = expect_state(a, connections=2)

    third = raw_socket(d.socket_path, timeout=5)
    data = read_until_eof(third)
    third.close()
    lines = data.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("err too-many-connections"), \
        "expected one 'err too-many-connections' line then EOF, got %r" % data
    assert core(a.state()) == core(before), "a rejected connection changed the state"
    d.wait_log("connection rejected")

    b.close()
    wait_for(lambda: a.state()["connections"] == 1, 5, "b's close to be seen")
    again = Client(d.socket_path, ack=True)
    assert again.call("ping") == "pong", "a new connection after a close must be served"
    expect_ok(again, "start p")
    expect_state(a, connections=2, level=1)
    fourth = raw_socket(d.socket_path, timeout=5)
    data = read_until_eof(fourth)
    fourth.close()
    assert data.startswith(b"err too-many-connections"), data
    assert a.call("ping") == "pong" and again.call("ping") == "pong"
    a.close()
    again.close()
    stop_and_check(d)


# Framing and reply rules.

def test_framing_case_crlf_spaces(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path, ack=True)
    assert c.call("PING") == "pong"
    assert c.call("Ping\r") == "pong"
    st = json.loads(c.call("STATE\r"))
    assert st["state"] == "boot", st
    expect_ok(c, "StArT p1 model=x")
    expect_ok(c, "sToP   p1     succeeded   output_tokens=3")
    expect_ok(c, "Enqueue p2\r")
    expect_ok(c, "STOP p2 canceled\r")
    expect_ok(c, "SETUP DONE ready")
    expect_state(c, state="idle", level=0, pending=0)
    expect_ok(c, "HELLO 1 ack")  # ack was on: the hello itself replies

    # Blank lines are not commands: no reply, no error.
    c.send_raw(b"\n\r\n    \n")
    assert c.call("ping") == "pong"
    c.close()
    totals = stop_and_check(d)
    assert totals == {"started": 1, "succeeded": 1, "failed": 0, "canceled": 1,
                      "aborted": 0}, totals


def test_many_commands_per_write_replies_in_order(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path, ack=True)
    lines, want = [], []
    for i in range(50):
        lines += ["start m%d" % i, "ping"]
        want += ["ok", "pong"]
    lines += ["stop zz succeeded", "start m0", "state", "frobnicate"]
    want += ["err unknown-id", "err duplicate-id", "{", "err unknown-command"]
    c.send_raw(("\n".join(lines) + "\n").encode())
    got = [c.readline() for _ in want]
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w or (w != "ok" and w != "pong" and g.startswith(w)), \
            "reply %d to %r: expected %r, got %r" % (i, lines[i], w, g)
    assert json.loads(got[-2])["level"] == 50
    # The stops in one write with CRLF endings.
    c.send_raw("".join("stop m%d succeeded\r\n" % i for i in range(50)).encode())
    got = [c.readline() for _ in range(50)]
    assert got == ["ok"] * 50, got
    expect_state(c, level=0)
    c.close()
    totals = stop_and_check(d)
    assert totals["started"] == 50 and totals["succeeded"] == 50, totals


def test_command_split_over_many_writes(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path, ack=True)
    for b in b"start split-1 model=m\n":
        c.send_raw(bytes([b]))
        time.sleep(0.001)
    assert c.readline() == "ok"
    expect_state(c, level=1)
    # Splits that cross line boundaries, and a CRLF split between \r and \n.
    for piece in (b"pi", b"ng\nst", b"ate\r", b"\nsto", b"p split-1 succ", b"eeded\r", b"\n"):
        c.send_raw(piece)
        time.sleep(0.005)
    assert c.readline() == "pong"
    assert json.loads(c.readline())["level"] == 1
    assert c.readline() == "ok"
    # A multi-byte UTF-8 character split across writes is still valid.
    for piece in (b"setup log caf\xc3", b"\xa9 \xe2\x9c", b"\x93\n"):
        c.send_raw(piece)
        time.sleep(0.005)
    assert c.readline() == "ok"
    expect_state(c, level=0)
    expect_ok(c, "setup done ready")
    (rep,) = d.wait_reports("setup_run", 1)
    assert rep["logs"] == "café ✓\n", rep["logs"]
    c.close()
    stop_and_check(d)


def test_without_ack_only_ping_and_state_reply(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path)
    burst = (b"start a\nfrobnicate\nstop zz succeeded\nstart \xff\nstart a\n"
             + b"x" * 70000 + b"\nping extra\nstate extra\nsetup done bogus\n"
             b"hello 2\nsetup done ready\nsetup done ready\nenqueue q\n")
    c.send_raw(burst)
    c.send_raw(b"state\nping\n")
    st = json.loads(c.readline())
    assert c.readline() == "pong"
    assert (st["level"], st["pending"], st["state"], st["setup"]["status"]) == \
        (1, 1, "active", "ready"), st
    # Nothing else was queued: the next reply is the next ping's.
    assert c.call("ping") == "pong"
    c.close()
    totals = stop_and_check(d)
    assert totals["started"] == 1 and totals["aborted"] == 2, totals


def test_hello_anywhere(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path)
    c.send("start h0")          # no ack yet: no reply
    c.send("hello 1 ack")       # ack was off: the hello itself gets no reply
    expect_ok(c, "start h1")    # the first reply is for the start
    expect_ok(c, "hello 1")     # ack was on: replies, then ack is off
    c.send("start h2")
    c.send("frobnicate")
    assert c.call("ping") == "pong"
    c.send("hello 1 ack")
    expect_ok(c, "stop h2 succeeded")
    expect_err(c, "hello 2 ack", "bad-arguments")
    expect_ok(c, "stop h0 failed")  # a bad hello left ack on
    expect_state(c, level=1)
    c.close()
    totals = stop_and_check(d)
    assert totals == {"started": 3, "succeeded": 1, "failed": 1, "canceled": 0,
                      "aborted": 1}, totals


def test_setup_log_text_is_verbatim(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path, ack=True)
    for line in ("setup log   indented", "setup log", "setup log ",
                 "Setup LOG Mixed  Case  ", "setup log tab\there",
                 "setup log crlf\r", "setup  log  two", "setup log k=v x=1 \u00e9"):
        expect_ok(c, line)
    expect_ok(c, "setup done succeeded")
    (rep,) = d.wait_reports("setup_run", 1)
    want = "  indented\n\n\nMixed  Case  \ntab\there\ncrlf\n two\nk=v x=1 \u00e9\n"
    assert rep["logs"] == want, "expected logs %r, got %r" % (want, rep["logs"])
    assert rep["status"] == "ready", rep
    c.close()
    stop_and_check(d)


def test_pending_and_ownership_rules(workdir):
    d = daemon(workdir)
    a = Client(d.socket_path, ack=True)
    b = Client(d.socket_path, ack=True)
    c = Client(d.socket_path, ack=True)
    # stop of a pending prediction: it leaves the queue, the level stays.
    expect_ok(a, "enqueue q1 model=m")
    expect_state(a, pending=1, level=0)
    expect_ok(a, "stop q1 canceled")
    expect_state(a, pending=0, level=0)
    expect_err(a, "stop q1 canceled", "unknown-id")
    # start of a pending one by another connection: it becomes the owner.
    expect_ok(a, "enqueue q2")
    expect_ok(b, "start q2 tenant=t")
    expect_state(b, pending=0, level=1)
    a.close()
    wait_for(lambda: c.state()["connections"] == 2, 5, "a's close to be seen")
    expect_state(c, level=1)
    # A stop may come from any connection.
    expect_ok(c, "stop q2 succeeded")
    expect_ok(b, "start x")
    expect_ok(c, "stop x failed")
    # Closing b aborts its pending prediction too.
    expect_ok(b, "enqueue q3")
    expect_state(c, pending=1, level=0)
    b.close()
    wait_for(lambda: c.state()["connections"] == 1, 5, "b's close to be seen")
    expect_state(c, pending=0, level=0)
    c.close()
    totals = stop_and_check(d)
    assert totals == {"started": 2, "succeeded": 1, "failed": 1, "canceled": 1,
                      "aborted": 1}, totals


# Errors are counted and logged, rate-limited.

def test_error_flood_is_rate_limited(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path)
    other = Client(d.socket_path, ack=True)
    t0 = time.monotonic()
    c.send_raw(b"frobnicate\n" * 1000)
    assert c.call("ping") == "pong"
    assert other.call("ping") == "pong"
    took = time.monotonic() - t0
    assert took < 5, "1000 bad lines took %.1fs to answer a ping" % took
    first = wait_for(lambda: protocol_error_logs(d, "unknown-command"), 5,
                     "a protocol error log line")
    logs = protocol_error_logs(d, "unknown-command")
    assert len(logs) <= 3, "expected at most a few log lines for 1000 errors, got %d" % len(logs)
    for key in ("reason", "detail", "suppressed"):
        assert key in first[0], "protocol error log lacks %r: %r" % (key, first[0])
    assert first[0]["suppressed"] == 0, first[0]

    # Keep erring until a line is logged after the flood: with the lines
    # before it, its `suppressed` accounts for every error of the flood.
    sent = [1000]

    def accounted():
        logs = protocol_error_logs(d, "unknown-command")
        return len(logs) + sum(int(l["suppressed"]) for l in logs)

    def flood_accounted():
        c.send_raw(b"frobnicate\n")
        sent[0] += 1
        assert c.call("ping") == "pong"
        return accounted() >= 1001
    wait_for(flood_accounted, 5, "a protocol error line counting the suppressed flood",
             interval=0.05)
    logs = protocol_error_logs(d, "unknown-command")
    assert accounted() <= sent[0], "logged + suppressed = %d > %d errors sent: %r" % (
        accounted(), sent[0], logs)
    assert len(logs) <= 6, "expected a handful of log lines, got %d" % len(logs)
    assert max(int(l["suppressed"]) for l in logs) >= 400, logs
    c.close()
    other.close()
    stop_and_check(d)


# Hostile input.

def test_ten_megabytes_without_newline(workdir):
    d = daemon(workdir)
    pid = d.proc.pid
    c = Client(d.socket_path, ack=True)
    assert c.call("ping") == "pong"
    rss0, hwm0 = rss_kib(pid), hwm_kib(pid)
    chunk = b"a" * 65536
    peak = rss0
    for i in range(160):  # 10 MiB
        c.send_raw(chunk)
        if i % 16 == 0:
            peak = max(peak, rss_kib(pid))
    c.send_raw(b"\nping\n")
    reply = c.readline()
    assert reply.startswith("err line-too-long "), "expected err line-too-long, got %r" % reply
    assert c.readline() == "pong"
    rss1, hwm1 = rss_kib(pid), hwm_kib(pid)
    peak = max(peak, rss1)
    assert peak - rss0 < RSS_GROWTH_KIB, "RSS grew from %d to %d KiB" % (rss0, peak)
    assert hwm1 - hwm0 < RSS_GROWTH_KIB, "peak RSS grew from %d to %d KiB" % (hwm0, hwm1)
    expect_ok(c, "start after")
    expect_state(c, level=1)
    c.close()
    totals = stop_and_check(d)
    assert totals["started"] == 1 and totals["aborted"] == 1, totals


def test_binary_junk_does_not_disturb_accounting(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 500ms\n")
    junk = Client(d.socket_path)
    good = Client(d.socket_path, ack=True)
    data = random.Random(20240601).randbytes(4 << 20)
    poured = [0]
    done = threading.Event()
    errors = []

    def pour():
        # At least one whole pass of the junk, and more until the good
        # connection has finished its rounds, so the two really overlap.
        try:
            while poured[0] < len(data) or not done.is_set():
                i = poured[0] % len(data)
                junk.send_raw(data[i:i + 65536])
                poured[0] += len(data[i:i + 65536])
        except Exception as e:  # reported by the main thread
            errors.append(e)
    t = threading.Thread(target=pour, daemon=True)
    t.start()
    wait_for(lambda: poured[0] > 0, 5, "the junk to start flowing")
    rounds = 50
    poured_at_start = poured[0]
    for i in range(rounds):
        expect_ok(good, "start g%da model=m" % i)
        expect_ok(good, "start g%db" % i)
        expect_state(good, level=2, pending=0)
        expect_ok(good, "stop g%da succeeded output_tokens=5" % i)
        expect_ok(good, "enqueue g%dc" % i)
        expect_state(good, level=1, pending=1)
        expect_ok(good, "stop g%dc canceled" % i)
        expect_ok(good, "stop g%db failed error_code=E1" % i)
        expect_state(good, level=0, pending=0, connections=2)
    assert poured[0] > poured_at_start, "no junk was sent while the rounds ran"
    done.set()
    t.join(30)
    assert not t.is_alive(), "the junk sender is stuck"
    assert not errors, "sending junk failed: %r" % errors
    # The junk connection is still served.
    junk.send_raw(b"\nping\n")
    assert junk.readline() == "pong", "the junk connection should still answer ping"
    assert good.call("ping") == "pong"
    junk.close()
    good.close()
    totals = stop_and_check(d)
    assert totals == {"started": 2 * rounds, "succeeded": rounds, "failed": rounds,
                      "canceled": rounds, "aborted": 0}, (rounds, totals)


def test_client_that_never_reads(workdir):
    d = daemon(workdir, "[socket]\nmax_reply_buffer = 64KiB\n")
    pid = d.proc.pid
    checker = Client(d.socket_path, ack=True)
    assert checker.call("ping") == "pong"
    rss0 = rss_kib(pid)
    n = 200000
    slow = raw_socket(d.socket_path, timeout=60)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    block = b"ping\n" * 1000
    progress = [0]
    errors = []

    def flood():
        try:
            for _ in range(n // 1000):
                slow.sendall(block)
                progress[0] += len(block)
        except Exception as e:
            errors.append(e)
    t = threading.Thread(target=flood, daemon=True)
    t.start()

    # The daemon stops reading: the sender stalls well before the end.
    seen = {"value": -1, "since": time.monotonic()}

    def stalled():
        if progress[0] != seen["value"]:
            seen["value"], seen["since"] = progress[0], time.monotonic()
            return False
        return time.monotonic() - seen["since"] > 0.5
    wait_for(stalled, 20, "the never-reading client's writes to stall", interval=0.02)
    assert progress[0] < n * 5, \
        "all %d bytes were taken although the client read nothing (no backpressure)" % progress[0]
    # Meanwhile another connection is served promptly, and memory is bounded.
    t0 = time.monotonic()
    assert checker.call("ping") == "pong"
    took = time.monotonic() - t0
    assert took < 1.0, "ping on another connection took %.2fs" % took
    expect_state(checker, connections=2)
    rss1 = rss_kib(pid)
    assert rss1 - rss0 < RSS_GROWTH_KIB, "RSS grew from %d to %d KiB" % (rss0, rss1)
    # The bound that was hit is counted and said.
    text = harness.http(d.http_port, "GET", "/metrics")[2].decode()
    paused = [l for l in text.splitlines() if l.startswith("podpulse_socket_reads_paused_total ")]
    assert paused and float(paused[0].split()[1]) >= 1, paused
    assert any("does not read its replies" in l for l in d.log_lines())

    # Now drain: exactly one pong per ping, nothing lost, nothing extra.
    want = b"pong\n" * n
    got = bytearray()
    slow.settimeout(20)
    while len(got) < len(want):
        chunk = slow.recv(1 << 20)
        if not chunk:
            raise AssertionError("connection closed after %d bytes of replies" % len(got))
        got += chunk
    t.join(20)
    assert not errors, "sending failed: %r" % errors
    assert progress[0] == n * 5
    assert bytes(got) == want, "expected %d pongs, got %d bytes (%d pongs)" % (
        n, len(got), got.count(b"pong\n"))
    slow.sendall(b"ping\n")
    assert slow.recv(100) == b"pong\n"
    slow.close()
    checker.close()
    stop_and_check(d)


def test_connection_churn(workdir):
    d = daemon(workdir)
    pid = d.proc.pid
    checker = Client(d.socket_path, ack=True)
    wait_for(lambda: checker.state()["connections"] == 1, 5, "connections == 1")
    rss0 = rss_kib(pid)
    started = 0
    for i in range(1000):
        s = raw_socket(d.socket_path)
        kind = i % 4
        if kind == 1:
            s.sendall(b"start churn-%d model=m" % i)  # half a line
        elif kind == 2:
            s.sendall(b"hello 1 ack\nstart churn-%d\n" % i)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(100)
                if not chunk:
                    break
                reply += chunk
            assert reply == b"ok\n", "start on churn connection %d: got %r" % (i, reply)
            started += 1
        elif kind == 3:
            s.sendall(b"hello 1 ack\nping\nfrobnicate\nsto")  # replies never read
        s.close()
    st = wait_for(lambda: (lambda s: s if s["connections"] == 1 else None)(checker.state()),
                  10, "connections == 1 after the churn")
    assert (st["level"], st["pending"]) == (0, 0), st
    rss1 = rss_kib(pid)
    assert rss1 - rss0 < RSS_GROWTH_KIB, "RSS grew from %d to %d KiB" % (rss0, rss1)
    assert checker.call("ping") == "pong"
    checker.close()
    totals = stop_and_check(d)
    assert totals["started"] == started == 250 and totals["aborted"] == started, totals


if __name__ == "__main__":
    harness.main(globals())
