"""Reports delivered over HTTP(S): headers, retry, rejection, outage, spool, TLS, token.

Every test talks to a real HTTP/1.1 receiver (receiver.py) on 127.0.0.1
and to the real podpulse binary. Waits are for conditions with deadlines;
the only timing asserts are lower bounds (Retry-After) and "well before
the hang ends" for responsiveness.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Client, daemon, wait_for  # noqa: E402
from receiver import Receiver, bodies, free_port  # noqa: E402

FAST_RETRY = "retry_base = 10ms\nretry_max = 50ms\n"


def ini(rx, extra_report="", monitor="report_interval = 1h\n", identity="instance_id = pod-a\n"):
    return ("[monitor]\n%s[report]\ninstance_state_url = %s\nsetup_run_url = %s\n%s"
            "[identity]\n%s" % (monitor, rx.url("/instance_state"), rx.url("/setup_run"),
                                extra_report, identity))


def keys(requests):
    return [r["headers"].get("Idempotency-Key") for r in requests]


def test_headers_and_body_are_exact(workdir):
    rx = Receiver().start()
    try:
        d = daemon(workdir, ini(rx), env={"WEBHOOK_AUTH_TOKEN": "tok-123"})
        c = Client(d.socket_path, ack=True)
        assert c.call("setup start") == "ok"
        assert c.call("setup done ready") == "ok"
        (setup,) = rx.wait_requests(1, what="the setup report")
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 2, keys(reqs)
        inst = reqs[1]
        for r, kind, path in ((setup, "setup_run", "/setup_run"),
                              (inst, "instance_state", "/instance_state")):
            h = r["headers"]
            assert r["path"] == path, r["path"]
            assert h["Content-Type"] == "application/json", h
            assert h["Authorization"] == "Bearer tok-123", h
            assert h["User-Agent"].startswith("podpulse/"), h
            assert h["Idempotency-Key"] == "pod-a:%s:0" % kind, h
            assert int(h["Content-Length"]) == len(r["body"])
        body = json.loads(inst["body"])
        assert body["final"] is True and body["sequence"] == 0, body
        assert body["instance_id"] == "pod-a"
        assert "kind" not in body
        assert json.loads(setup["body"])["status"] == "ready"
        # Nothing went to stdout, and the token never reached a log line.
        assert d.reports == [], d.reports
        assert not any("tok-123" in l for l in d.log_lines())
    finally:
        rx.stop()


def test_key_from_an_odd_instance_id_is_header_safe(workdir):
    spool = os.path.join(workdir, "spool")
    rx = Receiver()
    cfg = ini(rx, FAST_RETRY + "spool_dir = %s\n" % spool, identity="instance_id = pod a/\u00e9\n",
              monitor="report_interval = 1h\nshutdown_grace = 200ms\n")
    d = daemon(workdir, cfg)
    assert d.stop(signal.SIGTERM) == 0  # nobody listens: the final report stays spooled
    assert len([f for f in os.listdir(spool) if f.endswith(".report")]) == 1
    rx.start()
    try:
        d2 = daemon(workdir, cfg)
        rx.wait_requests(1)
        assert d2.stop() == 0
        assert keys(rx.snapshot())[0] == "pod_a/__:instance_state:0", keys(rx.snapshot())
        assert not os.listdir(os.path.join(spool, "corrupt"))
    finally:
        rx.stop()


def test_503_is_retried_then_delivered(workdir):
    rx = Receiver().start()
    rx.script = [("status", 503)] * 3
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 4, keys(reqs)
        assert len(set(r["body"] for r in reqs)) == 1, "every attempt sends the same body"
        assert set(keys(reqs)) == {"pod-a:instance_state:0"}
        assert any("retrying" in l for l in d.log_lines())
    finally:
        rx.stop()


def test_connection_is_reused(workdir):
    rx = Receiver().start()
    try:
        d = daemon(workdir, ini(rx, monitor="report_interval = 100ms\n"))
        reqs = rx.wait_requests(4)
        assert d.stop() == 0
        peers = set(r["peer"] for r in reqs)
        assert len(peers) == 1, "one keep-alive connection for all reports: %s" % peers
    finally:
        rx.stop()


def test_shutdown_tries_a_backed_off_report_at_once(workdir):
    rx = Receiver().start()
    rx.script = [("status", 503)]
    try:
        d = daemon(workdir, ini(rx, "retry_base = 1h\nretry_max = 1h\n",
                                monitor="report_interval = 1h\nshutdown_grace = 10s\n"))
        c = Client(d.socket_path)
        c.send("setup start")
        c.send("setup done ready")
        rx.wait_requests(1)
        d.wait_log("retrying")
        assert d.stop() == 0
        reqs = rx.snapshot()
        # The two kinds are independent queues: compare without their order.
        assert sorted(keys(reqs)) == ["pod-a:instance_state:0", "pod-a:setup_run:0",
                                      "pod-a:setup_run:0"], keys(reqs)
    finally:
        rx.stop()


def test_max_attempts_ends_a_cycle_not_the_report(workdir):
    rx = Receiver().start()
    rx.script = [("status", 500)] * 5
    try:
        d = daemon(workdir, ini(rx, "retry_base = 10ms\nretry_max = 300ms\nmax_attempts = 2\n"))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 6, keys(reqs)
        assert set(keys(reqs)) == {"pod-a:instance_state:0"}
        cycles = [l for l in d.log_lines() if "after max_attempts" in l]
        assert len(cycles) == 2, cycles
        # A new cycle waits retry_max: attempts 2->3 and 4->5 are that far apart.
        assert reqs[2]["t"] - reqs[1]["t"] >= 0.29
        assert reqs[4]["t"] - reqs[3]["t"] >= 0.29
    finally:
        rx.stop()


def test_429_retry_after_is_honoured(workdir):
    rx = Receiver().start()
    rx.script = [("status", 429, {"Retry-After": "1"})]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 2, keys(reqs)
        gap = reqs[1]["t"] - reqs[0]["t"]
        assert gap >= 0.95, "second attempt %.3fs after a Retry-After of 1s" % gap
    finally:
        rx.stop()


def test_429_retry_after_http_date(workdir):
    rx = Receiver().start()
    def later():  # built at the request, so a slow start cannot eat the wait
        when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
        return ("status", 429, {"Retry-After": when})
    rx.script = [later]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 2, keys(reqs)
        # The date has one-second resolution: at least one second later.
        assert reqs[1]["t"] - reqs[0]["t"] >= 0.9
    finally:
        rx.stop()


def faulty_answer_is_retried(workdir, answer, log_word):
    """The first attempt gets a broken answer; the report is then retried
    and delivered exactly once, and the failure is logged."""
    rx = Receiver().start()
    rx.script = [answer]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert keys(reqs) == ["pod-a:instance_state:0"] * 2, keys(reqs)
        assert reqs[0]["body"] == reqs[1]["body"]
        assert all(r["path"] == "/instance_state" for r in reqs), [r["path"] for r in reqs]
        assert any("retrying" in l and log_word in l for l in d.log_lines()), d.log_lines()
        assert not any("crash" in l or "fatal" in l for l in d.log_lines())
    finally:
        rx.stop()


def test_garbage_answer_is_retried(workdir):
    faulty_answer_is_retried(workdir, ("raw", b"SMTP ready, not HTTP at all\r\n\r\n"),
                             "HTTP/0.9")


def test_close_mid_body_is_retried(workdir):
    faulty_answer_is_retried(
        workdir, ("raw", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"),
        "93 bytes remaining")


def test_close_before_answering_is_retried(workdir):
    faulty_answer_is_retried(workdir, ("raw", b""), "Empty reply")


def test_redirect_is_not_followed_but_retried(workdir):
    # A redirect could send the report, and its bearer token, elsewhere:
    # podpulse never follows one; it retries the configured URL.
    faulty_answer_is_retried(workdir, ("status", 302, {"Location": "/elsewhere"}),
                             '"status":302')


def metric(d, name, **labels):
    """One sample of the daemon's /metrics, 0 when the series is absent."""
    text = harness.http(d.http_port, "GET", "/metrics")[2].decode()
    sel = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("%s{%s} " % (name, sel)) or line.startswith("%s{%s,} " % (name, sel)):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_outcomes_reach_metrics_and_state(workdir):
    rx = Receiver().start()
    # The setup report is retried twice, then delivered; the first
    # instance-state report is rejected.
    rx.script = [("status", 503), ("status", 503), ("status", 200), ("status", 400)]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY, monitor="report_interval = 1h\n"))
        c = Client(d.socket_path, ack=True)
        assert c.call("setup done ready") == "ok"
        wait_for(lambda: metric(d, "podpulse_reports_total", kind="setup_run",
                                outcome="delivered") == 1, what="the setup report delivered")
        assert metric(d, "podpulse_reports_total", kind="setup_run", outcome="retried") == 2
        st = json.loads(harness.http(d.http_port, "GET", "/v1/state")[2])
        assert st["last_report"] == {"kind": "setup_run", "outcome": "delivered"}, st
        assert st["reports_pending"] == 0
        assert metric(d, "podpulse_reports_pending") == 0
        c.close()
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert keys(reqs)[-1] == "pod-a:instance_state:0", keys(reqs)
        assert any("rejected" in l for l in d.log_lines())
    finally:
        rx.stop()


def test_state_shows_retries_during_an_outage(workdir):
    rx = Receiver().start()
    rx.script = [("status", 503)] * 1000
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY, monitor="report_interval = 100ms\n"))
        last = wait_for(lambda: (json.loads(harness.http(d.http_port, "GET", "/v1/state")[2])
                                 ["last_report"] or {}).get("outcome") == "retried"
                        and json.loads(harness.http(d.http_port, "GET", "/v1/state")[2]),
                        what="last_report retried while the server fails")
        assert last["last_report"]["kind"] == "instance_state", last
        assert last["reports_pending"] >= 1, last
        rx.script = []
        wait_for(lambda: json.loads(harness.http(d.http_port, "GET", "/v1/state")[2])
                 ["last_report"]["outcome"] == "delivered", what="delivered again")
        assert d.stop() == 0
    finally:
        rx.stop()


def test_400_is_not_retried(workdir):
    rx = Receiver().start()
    rx.script = [("status", 400, {}, "field x is wrong" + "y" * 500)]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY))
        assert d.stop() == 0
        reqs = rx.snapshot()
        assert len(reqs) == 1, keys(reqs)
        line = [l for l in d.log_lines() if "rejected" in l]
        assert line, d.log_lines()
        rec = json.loads(line[0])
        assert rec["status"] == 400
        assert rec["answer"] == ("field x is wrong" + "y" * 500)[:256], rec["answer"]
    finally:
        rx.stop()


def test_hang_times_out_and_loop_stays_responsive(workdir):
    rx = Receiver().start()
    rx.script = [("hang", 20)]
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY + "timeout = 500ms\n",
                                monitor="report_interval = 1h\nshutdown_grace = 30s\n"))
        c = Client(d.socket_path)
        c.send("setup start")
        c.send("setup done ready")
        rx.wait_requests(1, what="the hanging setup report")
        started = time.monotonic()
        assert c.call("ping") == "pong"
        assert time.monotonic() - started < 2.0, "ping took too long during a hanging request"
        reqs = rx.wait_requests(2, what="the retry after the timeout")
        assert keys(reqs[:2]) == ["pod-a:setup_run:0"] * 2
        assert reqs[1]["t"] - reqs[0]["t"] < 15, "the request was not timed out"
        assert any("Timeout" in l or "timed out" in l for l in d.log_lines()), d.log_lines()
        assert d.stop() == 0
    finally:
        rx.stop()


def test_outage_then_recovery_keeps_every_report_in_order(workdir):
    rx = Receiver()  # not listening yet: connection refused
    d = daemon(workdir, ini(rx, "retry_base = 20ms\nretry_max = 100ms\n",
                            monitor="report_interval = 200ms\n"))
    try:
        d.wait_log("report not delivered; retrying")
        c = Client(d.socket_path)
        wait_for(lambda: c.state()["reports_pending"] >= 4, 15, "4 reports pending")
        rx.start()
        rx.wait_until(lambda rs: len(rs) >= 8, what="the backlog and new reports")
        assert d.stop() == 0
        reqs = rx.snapshot()
        seqs = [b["sequence"] for b in bodies(reqs)]
        assert seqs == list(range(len(seqs))), seqs
        assert keys(reqs) == ["pod-a:instance_state:%d" % i for i in range(len(seqs))]
        assert bodies(reqs)[-1]["final"] is True
        assert len(set(keys(reqs))) == len(reqs), "a key was delivered twice"
    finally:
        rx.stop()


def test_kill9_during_outage_spool_survives_restart(workdir):
    spool = os.path.join(workdir, "spool")
    rx = Receiver()
    cfg = ini(rx, FAST_RETRY + "spool_dir = %s\n" % spool, monitor="report_interval = 200ms\n")
    d = daemon(workdir, cfg)
    try:
        files = lambda: sorted(f for f in os.listdir(spool) if f.endswith(".report"))
        wait_for(lambda: len(files()) >= 3, 15, "3 spooled reports")
        run_id = json.loads(open(os.path.join(spool, files()[0])).read().split("\n", 1)[1])["run_id"]
        d.proc.kill()
        d.proc.wait()
        spooled = len(files())
        rx.start()
        d2 = daemon(workdir, cfg.replace("report_interval = 200ms", "report_interval = 1h"))
        rx.wait_requests(spooled, what="the spooled reports")
        assert d2.stop() == 0
        reqs = bodies(rx.snapshot())
        old = reqs[:spooled]
        assert [b["run_id"] for b in old] == [run_id] * spooled
        assert [b["sequence"] for b in old] == list(range(spooled)), [b["sequence"] for b in old]
        assert reqs[spooled]["run_id"] != run_id and reqs[spooled]["final"] is True
        assert files() == [], "delivered reports are removed from the spool"
    finally:
        rx.stop()


def test_corrupt_spool_file_is_moved_aside(workdir):
    spool = os.path.join(workdir, "spool")
    os.makedirs(spool)
    with open(os.path.join(spool, "0000000000000001.report"), "w") as f:
        f.write("podpulse-spool 1 instance_state 500 pod-a:instance_state:0\n{\"trunc")
    rx = Receiver().start()
    try:
        d = daemon(workdir, ini(rx, "spool_dir = %s\n" % spool))
        d.wait_log("corrupt spool file moved aside")
        assert os.path.exists(os.path.join(spool, "corrupt", "0000000000000001.report"))
        assert d.stop() == 0
        assert len(rx.snapshot()) == 1
    finally:
        rx.stop()


def test_unwritable_spool_dir_exits_2(workdir):
    blocker = os.path.join(workdir, "file")
    open(blocker, "w").close()
    rx = Receiver()
    d = daemon(workdir, ini(rx, "spool_dir = %s/sub\n" % blocker), start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    assert any("spool" in l for l in d.log_lines()), d.log_lines()


def test_shutdown_spools_what_it_cannot_deliver(workdir):
    spool = os.path.join(workdir, "spool")
    rx = Receiver()
    d = daemon(workdir, ini(rx, FAST_RETRY + "spool_dir = %s\n" % spool,
                            monitor="report_interval = 1h\nshutdown_grace = 300ms\n"))
    assert d.stop() == 0
    left = [f for f in os.listdir(spool) if f.endswith(".report")]
    assert len(left) == 1, left
    assert any("stay in the spool" in l for l in d.log_lines()), d.log_lines()


def test_second_signal_exits_at_once(workdir):
    spool = os.path.join(workdir, "spool")
    rx = Receiver()
    d = daemon(workdir, ini(rx, FAST_RETRY + "spool_dir = %s\n" % spool,
                            monitor="report_interval = 1h\nshutdown_grace = 60s\n"))
    d.signal(signal.SIGTERM)
    d.wait_log("shutting down")
    d.signal(signal.SIGTERM)
    assert d.wait_exit(10) == 0
    assert len([f for f in os.listdir(spool) if f.endswith(".report")]) == 1


def test_max_pending_drops_the_oldest(workdir):
    rx = Receiver()
    d = daemon(workdir, ini(rx, "retry_base = 1s\nretry_max = 1s\nmax_pending = 2\n",
                            monitor="report_interval = 100ms\n"))
    d.wait_log("the oldest is dropped")
    c = Client(d.socket_path)
    assert c.state()["reports_pending"] <= 2
    rx.start()
    rx.wait_requests(2)
    assert d.stop() == 0
    dropped = [json.loads(l)["key"] for l in d.log_lines() if "the oldest is dropped" in l]
    got = keys(rx.snapshot())
    assert dropped and not set(dropped) & set(got), (dropped, got)
    seqs = [b["sequence"] for b in bodies(rx.snapshot())]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    rx.stop()


def test_bad_url_exits_2(workdir):
    d = daemon(workdir, "[report]\ninstance_state_url = http://[::1/x\n", start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    assert any("bad report URL" in l for l in d.log_lines()), d.log_lines()


def test_missing_token_file_exits_2(workdir):
    rx = Receiver()
    d = daemon(workdir, ini(rx, "auth_token_file = %s/nope\n" % workdir), start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    assert any("auth_token_file" in l for l in d.log_lines()), d.log_lines()


def test_token_file_with_a_line_break_inside_exits_2(workdir):
    tok = os.path.join(workdir, "token")
    with open(tok, "w") as f:
        f.write("abc\nX-Injected: 1\n")
    d = daemon(workdir, ini(Receiver(), "auth_token_file = %s\n" % tok), start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    assert not any("Injected" in l for l in d.log_lines()), d.log_lines()


def test_token_file_rotation(workdir):
    tok = os.path.join(workdir, "token")
    with open(tok, "w") as f:
        f.write("first-token\n")
    rx = Receiver().start()
    try:
        d = daemon(workdir, ini(rx, "auth_token_file = %s\n" % tok,
                                monitor="report_interval = 100ms\n"))
        rx.wait_until(lambda rs: rs and rs[-1]["headers"].get("Authorization") ==
                      "Bearer first-token", what="the first token")
        with open(tok + ".new", "w") as f:
            f.write("second-token\n")
        os.rename(tok + ".new", tok)
        rx.wait_until(lambda rs: rs[-1]["headers"].get("Authorization") ==
                      "Bearer second-token", what="the rotated token")
        os.unlink(tok)
        d.wait_log("cannot read the token file")
        n = len(rx.snapshot())
        rx.wait_requests(n + 2)
        assert rx.snapshot()[-1]["headers"]["Authorization"] == "Bearer second-token"
        assert d.stop() == 0
        assert not any("token-" in l and "Bearer" in l for l in d.log_lines())
        assert not any("second-token" in l for l in d.log_lines())
    finally:
        rx.stop()


def test_sighup_moves_reports_to_a_new_url_and_token(workdir):
    rx1, rx2 = Receiver().start(), Receiver().start()
    try:
        d = daemon(workdir, ini(rx1, monitor="report_interval = 100ms\n"))
        rx1.wait_requests(1)
        text = open(d.config_path).read().replace(rx1.base, rx2.base)
        with open(d.config_path, "w") as f:
            f.write(text.replace("[report]\n", "[report]\nauth_token = rotated\n"))
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        reqs = rx2.wait_requests(2, what="reports at the new URL")
        assert all(r["headers"]["Authorization"] == "Bearer rotated" for r in reqs)
        assert d.stop() == 0
        seqs = [b["sequence"] for b in bodies(rx1.snapshot()) + bodies(rx2.snapshot())]
        assert seqs == list(range(len(seqs))), "nothing lost or repeated across the switch: %s" % seqs
    finally:
        rx1.stop()
        rx2.stop()


def test_shutdown_does_not_wait_for_a_kind_without_url(workdir):
    """Reports queued for a URL that a reload removed cannot go anywhere:
    shutdown spools them and ends at once instead of waiting the grace."""
    rx = Receiver().start()
    rx.script = [("status", 503)] * 1000
    spool = os.path.join(workdir, "spool")
    try:
        d = daemon(workdir, ini(rx, FAST_RETRY + "spool_dir = %s\n" % spool,
                                monitor="report_interval = 100ms\nshutdown_grace = 60s\n"))
        rx.wait_requests(2)
        text = open(d.config_path).read().replace(
            "instance_state_url = %s\n" % rx.url("/instance_state"), "instance_state_url =\n")
        with open(d.config_path, "w") as f:
            f.write(text)
        d.signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        assert d.stop(timeout=15) == 0   # well within the 60 s grace
        assert any(f.endswith(".report") for f in os.listdir(spool)), os.listdir(spool)
    finally:
        rx.stop()


def test_a_long_token_is_sent_whole(workdir):
    rx = Receiver().start()
    token = "t" * 10000
    try:
        d = daemon(workdir, ini(rx), env={"WEBHOOK_AUTH_TOKEN": token})
        assert d.stop() == 0
        (req,) = rx.snapshot()
        assert req["headers"]["Authorization"] == "Bearer " + token
    finally:
        rx.stop()


def test_sighup_to_a_bad_token_file_is_refused_whole(workdir):
    rx = Receiver().start()
    try:
        d = daemon(workdir, ini(rx, "auth_token = t0\n", monitor="report_interval = 100ms\n"))
        rx.wait_requests(1)
        text = open(d.config_path).read().replace(
            "auth_token = t0\n", "auth_token_file = %s/missing\n" % workdir)
        with open(d.config_path, "w") as f:
            f.write(text)
        d.signal(signal.SIGHUP)
        d.wait_log("reload failed")
        assert any("bad report token" in l for l in d.log_lines())
        n = len(rx.snapshot())
        reqs = rx.wait_requests(n + 2, what="reports after the refused reload")
        assert all(r["headers"].get("Authorization") == "Bearer t0" for r in reqs), \
            [r["headers"].get("Authorization") for r in reqs]
        assert d.stop() == 0
    finally:
        rx.stop()


def _make_ca(workdir):
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=workdir, check=True,
                       capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=podpulse test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(workdir, "ext.cnf"), "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(workdir, n) for n in ("ca.pem", "srv.pem", "srv.key")]


def test_https_with_private_ca(workdir):
    ca, cert, key = _make_ca(workdir)
    rx = Receiver(tls=(cert, key)).start()
    try:
        bad = daemon(workdir, ini(rx, FAST_RETRY, monitor="report_interval = 1h\nshutdown_grace = 200ms\n"),
                     name="untrusting")
        c = Client(bad.socket_path)
        c.send("setup start")
        c.send("setup done ready")
        line = bad.wait_log("report not delivered")
        assert "certificate" in line[0].lower() or "ssl" in line[0].lower(), line
        assert bad.stop() == 0
        assert rx.snapshot() == [], "no request passes an unverified TLS handshake"
        good = daemon(workdir, ini(rx, "ca_file = %s\n" % ca), name="trusting")
        assert good.stop() == 0
        (r,) = rx.snapshot()
        assert json.loads(r["body"])["final"] is True
    finally:
        rx.stop()


if __name__ == "__main__":
    harness.main(globals())
