"""Scale snapshots in a real Redis (SPEC section 4), through the real daemon."""

import json
import os
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import Client, daemon, wait_for
from redis_server import servers

INTERVAL = 0.2  # seconds; scalestate.interval in these tests


def ini(blue_url, green_url="", key="dk", iid="a", extra=""):
    return ("[http]\nlisten =\n"
            "[identity]\ninstance_id = %s\ndeployment_key = %s\n"
            "[scalestate]\nredis_url = %s\nredis_green_url = %s\n"
            "interval = 200ms\nconnect_timeout = 500ms\ncommand_timeout = 500ms\n"
            "reconnect_base = 50ms\nreconnect_max = 200ms\n%s"
            % (iid, key, blue_url, green_url, extra))


def snapshots(r, key="dk"):
    return [json.loads(s) for s in r.cmd("LRANGE", "scalestate:" + key, 0, -1)]


def check_snapshot(s):
    fields = {"queue_length", "queue_length_blue", "queue_length_green",
              "replica_count", "time"}
    assert set(s) == fields, s
    for f in fields - {"time"}:
        assert isinstance(s[f], int) and s[f] >= 0, s
    assert isinstance(s["time"], (int, float)) and s["time"] > 1.6e9, s
    assert s["queue_length"] == s["queue_length_blue"] + s["queue_length_green"], s


def wait_snapshot(r, cond, timeout=5.0, what="a snapshot", key="dk"):
    """Wait for a snapshot newer than now that satisfies cond."""
    since = time.time()

    def newest():
        snaps = snapshots(r, key)
        if snaps and snaps[0]["time"] >= since and cond(snaps[0]):
            return snaps[0]
        return None
    return wait_for(newest, timeout, what)


def ready(d):
    c = Client(d.socket_path, ack=True)
    assert c.call("setup done ready") == "ok"
    c.close()


def ping(d):
    c = Client(d.socket_path, timeout=2)
    r = c.call("ping")
    c.close()
    return r


def test_one_writer_replicas_and_takeover(workdir):
    with servers(workdir) as redis:
        blue, green = redis("blue"), redis("green")
        blue.cmd("RPUSH", "q", "a", "b")
        green.cmd("RPUSH", "q", "c")
        extra = "queue_key = q\nmax_snapshots = 20\n"
        ds = [daemon(workdir, ini(blue.url(), green.url(), iid=n, extra=extra), name=n)
              for n in ("a", "b", "c")]
        for d in ds[:2]:
            ready(d)
        s = wait_snapshot(blue, lambda s: s["replica_count"] == 2, what="2 replicas")
        assert (s["queue_length_blue"], s["queue_length_green"], s["queue_length"]) == (2, 1, 3), s
        ready(ds[2])
        wait_snapshot(blue, lambda s: s["replica_count"] == 3, what="3 replicas")
        # The list fills to max_snapshots and stays there.
        wait_for(lambda: blue.cmd("LLEN", "scalestate:dk") == 20, 10, "20 snapshots")
        time.sleep(3 * INTERVAL)
        assert blue.cmd("LLEN", "scalestate:dk") == 20
        snaps = snapshots(blue)
        for s in snaps:
            check_snapshot(s)
        # One writer: one snapshot per interval, never two for the same one.
        times = [s["time"] for s in snaps]
        gaps = [a - b for a, b in zip(times, times[1:])]
        assert all(g > INTERVAL / 2 for g in gaps), gaps
        leader = blue.cmd("GET", "podpulse:leader:dk")
        assert leader in ("a", "b", "c"), leader
        writers = [d for d in ds if "now writes the scale snapshots" in "".join(d.log_lines())]
        assert len(writers) == 1, [d.socket_path for d in writers]
        assert sorted(blue.cmd("ZRANGE", "podpulse:replicas:dk", 0, -1)) == ["a", "b", "c"]

        # kill -9 the leader: another takes over within 3 intervals (the
        # lease), and the dead pod leaves the count within 3 (plus one to
        # notice).
        dead = {"a": ds[0], "b": ds[1], "c": ds[2]}[leader]
        killed = time.monotonic()
        dead.proc.kill()
        dead.proc.wait()
        new = wait_for(lambda: (blue.cmd("GET", "podpulse:leader:dk") or "") not in ("", leader)
                       and blue.cmd("GET", "podpulse:leader:dk"), 5, "a new leader")
        took = time.monotonic() - killed
        assert took <= 3 * INTERVAL + 0.3, took
        s = wait_snapshot(blue, lambda s: s["replica_count"] == 2, what="2 replicas after the kill")
        assert time.monotonic() - killed <= 5 * INTERVAL + 1.0
        check_snapshot(s)
        live = [d for d in ds if d is not dead]
        for d in live:
            assert ping(d) == "pong"
        # A clean stop leaves the registry and releases the lease.
        for d in live:
            assert d.stop() == 0
        assert blue.cmd("ZCARD", "podpulse:replicas:dk") == 0
        assert blue.cmd("EXISTS", "podpulse:leader:dk") == 0
        assert new in ("a", "b", "c")


def fill(r, kind, n, pending=0):
    """A queue of kind holding n entries (stream: pending of them read by g)."""
    r.cmd("DEL", "q")
    for i in range(n):
        if kind == "list":
            r.cmd("RPUSH", "q", i)
        elif kind == "zset":
            r.cmd("ZADD", "q", i, "m%d" % i)
        else:
            r.cmd("XADD", "q", "*", "i", i)
    if kind == "stream":
        r.cmd("XGROUP", "CREATE", "q", "g", "0", "MKSTREAM")
        if pending:
            r.cmd("XREADGROUP", "GROUP", "g", "c1", "COUNT", pending, "STREAMS", "q", ">")


def test_queue_kinds(workdir):
    with servers(workdir) as redis:
        blue, green = redis("blue"), redis("green")
        cases = [("list", "list", 3, 4, ""), ("zset", "zset", 5, 2, ""),
                 ("stream", "stream", 6, 3, "queue_group = g\n"),
                 ("auto", "zset", 2, 7, ""), ("auto", "stream", 4, 1, "queue_group = g\n")]
        for i, (kind, shape, nb, ng, more) in enumerate(cases):
            fill(blue, shape, nb, pending=2)
            fill(green, shape, ng, pending=1)
            d = daemon(workdir, ini(blue.url(), green.url(), key="k%d" % i,
                                    extra="queue_key = q\nqueue_kind = %s\n%s" % (kind, more)),
                       name="d%d" % i)
            s = wait_snapshot(blue, lambda s: True, key="k%d" % i, what="a %s snapshot" % kind)
            check_snapshot(s)
            assert (s["queue_length_blue"], s["queue_length_green"]) == (nb, ng), (kind, shape, s)
            assert d.stop() == 0
        # A stream with a group: lag (undelivered) plus pending, not XLEN.
        fill(blue, "stream", 5, pending=2)
        blue.cmd("XACK", "q", "g", blue.cmd("XRANGE", "q", "-", "+", "COUNT", 1)[0][0])
        d = daemon(workdir, ini(blue.url(), key="ks", extra="queue_key = q\nqueue_kind = stream\n"
                                "queue_group = g\n"), name="ds")
        s = wait_snapshot(blue, lambda s: True, key="ks")
        assert s["queue_length_blue"] == 4 and s["queue_length_green"] == 0, s  # 3 lag + 1 pending
        assert d.stop() == 0
        # Lag unknown (an undelivered entry deleted): pending only, and said.
        fill(blue, "stream", 5, pending=2)
        undelivered = blue.cmd("XRANGE", "q", "-", "+")[3][0]
        blue.cmd("XDEL", "q", undelivered)
        lag = dict(zip(*[iter(blue.cmd("XINFO", "GROUPS", "q")[0])] * 2))["lag"]
        assert lag is None, lag   # what this Redis does; the case under test
        d = daemon(workdir, ini(blue.url(), key="kn", extra="queue_key = q\nqueue_kind = stream\n"
                                "queue_group = g\n"), name="dn")
        s = wait_snapshot(blue, lambda s: True, key="kn")
        assert s["queue_length_blue"] == 2, s
        d.wait_log("lag is unknown")
        assert d.stop() == 0
        # Without a group: every entry (XLEN), acknowledged or not.
        fill(blue, "stream", 5, pending=2)
        d = daemon(workdir, ini(blue.url(), key="kl", extra="queue_key = q\nqueue_kind = stream\n"),
                   name="dl")
        s = wait_snapshot(blue, lambda s: True, key="kl")
        assert s["queue_length_blue"] == 5, s
        assert d.stop() == 0
        # Missing key: 0. Wrong type: a log line and no crash.
        blue.cmd("DEL", "q")
        blue.cmd("HSET", "h", "f", "v")
        d = daemon(workdir, ini(blue.url(), key="kh", extra="queue_key = missing\n"), name="dm")
        s = wait_snapshot(blue, lambda s: True, key="kh")
        assert s["queue_length"] == 0, s
        assert d.stop() == 0
        d = daemon(workdir, ini(blue.url(), key="kw", extra="queue_key = h\nqueue_kind = list\n"),
                   name="dw")
        d.wait_log("WRONGTYPE")
        assert ping(d) == "pong"
        blue.cmd("SET", "scalestate:kw2", "not a list")
        d2 = daemon(workdir, ini(blue.url(), key="kw2", extra="queue_key = missing\n"), name="dw2")
        wait_for(lambda: [l for l in d2.log_lines() if "snapshot" in l and "WRONGTYPE" in l],
                 5, "a WRONGTYPE error on the snapshot list")
        assert ping(d2) == "pong"
        assert d.stop() == 0 and d2.stop() == 0
        assert blue.cmd("GET", "scalestate:kw2") == "not a list"


def test_auth_acl_unix(workdir):
    with servers(workdir) as redis:
        blue = redis("blue", password="s3cret", unix=True)
        green = redis("green")
        green.cmd("ACL", "SETUSER", "alice", "on", ">pa55", "~*", "+@all")
        blue.cmd("RPUSH", "q", "x")
        green.cmd("SELECT", 2)
        green.cmd("RPUSH", "q", "y", "z")
        # A host name: looked up off the loop, each address in turn.
        green_url = "redis://alice:pa55@localhost:%d/2" % green.port
        d = daemon(workdir, ini(blue.url("s3cret"), green_url, extra="queue_key = q\n"), name="tcp")
        s = wait_snapshot(blue, lambda s: True)
        assert s["queue_length_blue"] == 1 and s["queue_length_green"] == 2, s
        logs = "\n".join(d.log_lines())
        assert "s3cret" not in logs and "pa55" not in logs
        assert d.stop() == 0

        # --check-config shows where, never the password.
        p = subprocess.run([harness.ARGS.podpulse, "--check-config", "-c", d.config_path],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "redis_url = redis://***@127.0.0.1:%d\n" % blue.port in p.stdout, p.stdout
        assert "redis_green_url = redis://alice:***@localhost:" in p.stdout, p.stdout
        assert "s3cret" not in p.stdout + p.stderr and "pa55" not in p.stdout + p.stderr

        url = "unix://s3cret@%s" % blue.unix_path
        d = daemon(workdir, ini(url, key="ku", extra="queue_key = q\n"), name="unix")
        s = wait_snapshot(blue, lambda s: True, key="ku")
        assert s["queue_length_blue"] == 1, s
        assert d.stop() == 0

        # A wrong password: one clear line, retries, no crash.
        d = daemon(workdir, ini(blue.url("wrong"), key="kx"), name="wrong")
        d.wait_log("WRONGPASS")
        time.sleep(6 * INTERVAL)
        lines = [l for l in d.log_lines() if "unreachable" in l]
        assert len(lines) == 1, lines
        assert "wrong" not in lines[0].replace("WRONGPASS", "")
        assert ping(d) == "pong"
        assert d.stop() == 0


def test_green_down_blue_goes_on(workdir):
    with servers(workdir) as redis:
        blue, green = redis("blue"), redis("green")
        blue.cmd("RPUSH", "q", 1)
        green.cmd("RPUSH", "q", 1, 2)
        d = daemon(workdir, ini(blue.url(), green.url(), extra="queue_key = q\n"), name="g")
        wait_snapshot(blue, lambda s: s["queue_length"] == 3, what="blue 1 + green 2")
        green.stop()
        d.wait_log("unreachable")
        s = wait_snapshot(blue, lambda s: True, what="a snapshot while green is down")
        assert (s["queue_length_blue"], s["queue_length_green"]) == (1, 0), s
        green.start()
        green.cmd("RPUSH", "q", 1, 2, 3)
        wait_snapshot(blue, lambda s: s["queue_length"] == 4, what="green counted again")
        assert d.stop() == 0


def test_outage_and_silent_redis(workdir):
    with servers(workdir) as redis:
        blue = redis("blue")
        d = daemon(workdir, ini(blue.url()), name="o")
        wait_snapshot(blue, lambda s: True)
        blue.stop()
        d.wait_log("unreachable")
        for _ in range(10):  # the socket keeps answering during the outage
            assert ping(d) == "pong"
            time.sleep(INTERVAL / 2)
        blue.start()
        d.wait_log("reachable again")
        wait_snapshot(blue, lambda s: True, what="snapshots after the outage")
        assert len([l for l in d.log_lines() if "unreachable" in l]) == 1

        # A Redis that stops answering mid-run (SIGSTOP): the command
        # timeout drops it, the loop goes on, and it is back after SIGCONT.
        blue.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: [l for l in d.log_lines() if "command timeout" in l], 5,
                     "a command timeout")
            assert ping(d) == "pong"
        finally:
            blue.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: len([l for l in d.log_lines() if "reachable again" in l]) == 2, 5,
                 "the second recovery")
        wait_snapshot(blue, lambda s: True, what="snapshots after SIGCONT")
        assert len([l for l in d.log_lines() if "unreachable" in l]) == 2
        assert d.stop() == 0

        # A Redis that accepts and never answers: timeouts, no blocked loop.
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(16)
        held = []
        stop = threading.Event()

        def accept():
            lst.settimeout(0.1)
            while not stop.is_set():
                try:
                    held.append(lst.accept()[0])
                except OSError:
                    pass
        t = threading.Thread(target=accept, daemon=True)
        t.start()
        try:
            d = daemon(workdir, ini("redis://127.0.0.1:%d" % lst.getsockname()[1], key="kz"),
                       name="silent")
            d.wait_log("timeout")
            for _ in range(5):
                assert ping(d) == "pong"
            wait_for(lambda: len(held) >= 2, 5, "a reconnection after the timeout")
            assert d.stop() == 0
        finally:
            stop.set()
            t.join(2)
            for s in held:
                s.close()
            lst.close()


class FakeRedis:
    """A TCP server that answers every RESP command with the same bytes."""

    def __init__(self, answer):
        self.answer = answer
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.lst.settimeout(0.1)
        self.port = self.lst.getsockname()[1]
        self.conns = []
        self.commands = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c = self.lst.accept()[0]
            except OSError:
                continue
            self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c):
        buf = b""
        c.settimeout(0.1)
        while not self.stop.is_set():
            try:
                chunk = c.recv(65536)
            except OSError:
                continue
            if not chunk:
                return
            buf += chunk
            while True:  # one answer per complete multibulk request
                n, rest = self._request(buf)
                if n is None:
                    break
                buf = rest
                self.commands += 1
                try:
                    c.sendall(self.answer)
                except OSError:
                    return

    @staticmethod
    def _request(buf):
        if not buf.startswith(b"*") or b"\r\n" not in buf:
            return None, buf
        head, rest = buf.split(b"\r\n", 1)
        for _ in range(int(head[1:])):
            if b"\r\n" not in rest:
                return None, buf
            size, rest = rest.split(b"\r\n", 1)
            n = int(size[1:])
            if len(rest) < n + 2:
                return None, buf
            rest = rest[n + 2:]
        return True, rest

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(2)
        for c in self.conns:
            c.close()
        self.lst.close()


def test_unexpected_replies(workdir):
    # Every reply nil: no error, but not what any command expects.
    fake = FakeRedis(b"$-1\r\n")
    try:
        d = daemon(workdir, ini("redis://127.0.0.1:%d" % fake.port, key="kn",
                                extra="queue_key = q\nqueue_kind = list\n"), name="nil")
        d.wait_log("unexpected reply type")
        assert ping(d) == "pong"
        wait_for(lambda: fake.commands >= 10, 5, "the daemon to go on asking")
        assert d.stop() == 0
    finally:
        fake.close()
    # Bytes that are not RESP: a protocol error is an outage, retried.
    fake = FakeRedis(b"?garbage\r\n")
    try:
        d = daemon(workdir, ini("redis://127.0.0.1:%d" % fake.port, key="kg"), name="garbage")
        d.wait_log("unreachable")
        wait_for(lambda: len(fake.conns) >= 2, 5, "a reconnection after the protocol error")
        assert ping(d) == "pong"
        assert d.stop() == 0
    finally:
        fake.close()


def test_reload_keeps_scalestate(workdir):
    with servers(workdir) as redis:
        blue = redis("blue")
        d = daemon(workdir, ini(blue.url(), key="kr"), name="r")
        wait_snapshot(blue, lambda s: True, key="kr")
        with open(d.config_path) as f:
            text = f.read()
        with open(d.config_path, "w") as f:
            f.write(text.replace("interval = 200ms", "interval = 1s")
                    .replace("deployment_key = kr", "deployment_key = other"))
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        kept = d.wait_log("cannot change at run time")[0]
        assert "scalestate.interval" in kept, kept
        # Same keys, same pace: the running scalestate is untouched.
        first = wait_snapshot(blue, lambda s: True, key="kr", what="a snapshot after SIGHUP")
        wait_for(lambda: len([s for s in snapshots(blue, "kr") if s["time"] > first["time"]]) >= 4,
                 1.5, "4 more snapshots at the old pace (200ms, not 1s)")
        assert blue.cmd("EXISTS", "scalestate:other") == 0
        assert d.stop() == 0


def test_cli_snapshots(workdir):
    with servers(workdir) as redis:
        blue = redis("blue", password="s3cret")
        blue.cmd("RPUSH", "q", 1, 2, 3)
        d = daemon(workdir, ini(blue.url("s3cret"), key="kc", extra="queue_key = q\n"), name="c")
        wait_for(lambda: blue.cmd("LLEN", "scalestate:kc") >= 3, 5, "3 snapshots")
        assert d.stop() == 0
        stored = snapshots(blue, "kc")
        p = harness.cli("snapshots", "-u", blue.url("s3cret"), "-k", "kc")
        assert p.returncode == 0, p.stderr
        printed = json.loads(p.stdout)
        assert printed == stored and len(printed) >= 3, (printed, stored)
        for s in printed:
            check_snapshot(s)
            assert s["queue_length"] == 3
        assert printed[0]["time"] > printed[-1]["time"]  # newest first
        p = harness.cli("snapshots", "-u", blue.url("s3cret"), "-k", "nothing")
        assert p.returncode == 0 and json.loads(p.stdout) == [], (p.stdout, p.stderr)
        p = harness.cli("snapshots", "-u", blue.url("wrong"), "-k", "kc")
        assert p.returncode == 1 and "WRONGPASS" in p.stderr and "wrong" not in p.stderr.replace("WRONGPASS", "")
        p = harness.cli("snapshots", "-k", "kc")
        assert p.returncode == 2 and "usage" in p.stderr
        # The daemon's own configuration gives the URL and the key.
        p = harness.cli("-c", d.config_path, "snapshots")
        assert p.returncode == 0 and json.loads(p.stdout) == stored, (p.stdout, p.stderr)
        env = dict(os.environ, PODPULSE_IDENTITY_DEPLOYMENT_KEY="nothing")
        p = subprocess.run([harness.ARGS.cli, "-c", d.config_path, "snapshots"],
                           capture_output=True, text=True, timeout=30, env=env)
        assert p.returncode == 0 and json.loads(p.stdout) == [], (p.stdout, p.stderr)


if __name__ == "__main__":
    harness.main(globals())
