"""podpulse-cli (SPEC section 8) against the real daemon.

Exit status: 0 for ok/pong/state, 1 for an `err` reply or no connection,
2 for a usage error. The one-shot commands open their own connection, so a
prediction started from the CLI belongs to that short-lived connection (it
is aborted when the CLI exits unless socket.abort_on_disconnect = false).
`simulate` is checked against the daemon's own reports: what the fake model
server says it did is exactly what the reports count.
"""

import json
import os
import re
import signal
import socket

import harness
from harness import Client, cli, daemon, wait_for

STATE_KEYS = ("state", "level", "pending", "in_flight", "connections", "run_id",
              "setup", "interval", "reports_pending")


def run(*args, input=None, want=0):
    r = cli(*args, input=input)
    assert r.returncode == want, "podpulse-cli %s: expected exit %d, got %d\nstdout: %r\nstderr: %r" % (
        " ".join(args), want, r.returncode, r.stdout, r.stderr)
    return r


def state_of(d):
    r = run("-s", d.socket_path, "state")
    return json.loads(r.stdout)


def stop_and_check(d):
    code = d.stop(signal.SIGTERM)
    assert code == 0, "expected exit 0 after SIGTERM, got %s: %s" % (code, d.log_lines()[-20:])
    reports = d.reports_of("instance_state")
    assert reports and reports[-1]["final"] is True, reports
    assert [r["sequence"] for r in reports] == list(range(len(reports)))
    for r in reports:
        parts = round((r["boot_time"] + r["idle_time"] + r["active_time"]) * 1000)
        assert parts == round(r["metric_duration"] * 1000), r
    return reports


def totals(reports):
    return {k: sum(r["predictions"][k] for r in reports)
            for k in ("started", "succeeded", "failed", "canceled", "aborted")}


def test_ping_and_state(workdir):
    d = daemon(workdir)
    r = run("-s", d.socket_path, "ping")
    assert r.stdout == "pong\n", r.stdout
    r = run("-s", d.socket_path, "state")
    assert r.stdout.count("\n") == 1, "expected one line of JSON, got %r" % r.stdout
    st = json.loads(r.stdout)
    missing = [k for k in STATE_KEYS if k not in st]
    assert not missing, "state lacks %s: %r" % (missing, st)
    assert st["state"] == "boot" and st["level"] == 0, st
    assert st["connections"] >= 1, st  # the CLI's own connection
    stop_and_check(d)


def test_setup_done(workdir):
    d = daemon(workdir)
    r = run("-s", d.socket_path, "setup-done", "ready")
    assert r.stdout == "ok\n", r.stdout
    (rep,) = d.wait_reports("setup_run", 1)
    assert rep["status"] == "ready", rep
    assert state_of(d)["state"] == "idle"
    r = run("-s", d.socket_path, "setup-done", "failed", want=1)
    assert r.stdout.startswith("err setup-already-done"), r.stdout
    r = run("-s", d.socket_path, "setup-done", "maybe", want=1)
    assert r.stdout.startswith("err bad-status"), r.stdout
    stop_and_check(d)
    assert len(d.reports_of("setup_run")) == 1


def test_start_stop_change_the_level(workdir):
    d = daemon(workdir, "[socket]\nabort_on_disconnect = false\n")
    r = run("-s", d.socket_path, "start", "p1", "model=x")
    assert r.stdout == "ok\n", r.stdout
    st = state_of(d)
    assert (st["level"], st["state"]) == (1, "active"), st
    r = run("-s", d.socket_path, "stop", "p1", "succeeded", "output_tokens=7")
    assert r.stdout == "ok\n", r.stdout
    st = state_of(d)
    assert (st["level"], st["state"]) == (0, "boot"), st
    r = run("-s", d.socket_path, "stop", "nope", "succeeded", want=1)
    assert r.stdout.startswith("err unknown-id"), r.stdout
    r = run("-s", d.socket_path, "start", "p1", "Bad=1", want=1)
    assert r.stdout.startswith("err bad-arguments"), r.stdout
    r = run("-s", d.socket_path, "enqueue", "q1")
    assert state_of(d)["pending"] == 1
    r = run("-s", d.socket_path, "stop", "q1", "canceled")
    assert state_of(d)["pending"] == 0
    t = totals(stop_and_check(d))
    assert t == {"started": 1, "succeeded": 1, "failed": 0, "canceled": 1, "aborted": 0}, t


def test_cli_start_is_aborted_when_the_cli_exits(workdir):
    # Ownership rule: the CLI's connection owns what it starts.
    d = daemon(workdir)
    watcher = Client(d.socket_path, ack=True)
    r = run("-s", d.socket_path, "start", "p1")
    assert r.stdout == "ok\n", r.stdout
    wait_for(lambda: watcher.state()["connections"] == 1, 5, "the CLI's connection to close")
    assert watcher.state()["level"] == 0
    watcher.close()
    t = totals(stop_and_check(d))
    assert t["started"] == 1 and t["aborted"] == 1, t


def test_send_prints_one_reply_per_line(workdir):
    d = daemon(workdir)
    text = ("ping\n\nstart s1 model=m\n   \n\r\nstop s1 succeeded\nstate\n"
            "setup done ready")  # the last line has no newline
    r = run("-s", d.socket_path, "send", input=text)
    lines = r.stdout.splitlines()
    assert len(lines) == 5, "expected 5 replies for 5 non-empty lines, got %r" % lines
    assert lines[:3] == ["pong", "ok", "ok"], lines
    assert json.loads(lines[3])["level"] == 0, lines[3]
    assert lines[4] == "ok", lines
    # An err reply makes the exit status 1; the other lines still run.
    r = run("-s", d.socket_path, "send",
            input="start s2\nfrobnicate\nstop nope failed\nstop s2 failed\n", want=1)
    lines = r.stdout.splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == "ok" and lines[3] == "ok", lines
    assert lines[1].startswith("err unknown-command"), lines
    assert lines[2].startswith("err unknown-id"), lines
    r = run("-s", d.socket_path, "send", input="")
    assert r.stdout == "", r.stdout
    t = totals(stop_and_check(d))
    assert t == {"started": 2, "succeeded": 1, "failed": 1, "canceled": 0, "aborted": 0}, t
    (rep,) = d.reports_of("setup_run")
    assert rep["status"] == "ready"


def test_socket_from_config_file(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 1h\n")
    r = run("-c", d.config_path, "ping")
    assert r.stdout == "pong\n", r.stdout
    r = run("-c", d.config_path, "state")
    assert json.loads(r.stdout)["run_id"], r.stdout
    missing = os.path.join(workdir, "missing.ini")
    r = run("-c", missing, "ping", want=2)
    assert "missing.ini" in r.stderr, r.stderr
    stop_and_check(d)


def test_usage_errors_exit_2(workdir):
    sock = os.path.join(workdir, "none.sock")
    r = run("-s", sock, "frobnicate", want=2)
    assert "frobnicate" in r.stderr, r.stderr
    run("-s", sock, want=2)                       # no command
    run("-s", sock, "stop", "p1", want=2)         # too few arguments
    run("-s", sock, "ping", "extra", want=2)      # too many
    run("--bogus", "ping", want=2)
    run("-s", sock, "simulate", "--rate", "0", want=2)
    run("-s", sock, "simulate", "--nope", want=2)
    r = run("-h")
    assert "simulate" in r.stdout, r.stdout


def test_no_daemon_exit_1(workdir):
    # A socket file nobody listens on: connection refused.
    path = os.path.join(workdir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    r = run("-s", path, "ping", want=1)
    assert "cannot connect" in r.stderr and path in r.stderr, r.stderr
    assert "refused" in r.stderr.lower(), r.stderr
    assert r.stdout == "", r.stdout
    # No socket file at all.
    path = os.path.join(workdir, "absent.sock")
    r = run("-s", path, "state", want=1)
    assert "cannot connect" in r.stderr and path in r.stderr, r.stderr


SUMMARY = re.compile(r"simulate: done: (\d+) started, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) error replies")


def test_simulate_matches_the_reports(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 500ms\n")
    r = cli("-s", d.socket_path, "simulate", "--rate", "20", "--duration", "2s",
            "--concurrency", "3", "--mean-duration", "0.1", "--setup-time", "0.3",
            "--seed", "7", timeout=30)
    assert r.returncode == 0, "simulate exited %d: %s" % (r.returncode, r.stderr)
    m = SUMMARY.search(r.stderr)
    assert m, "no summary line on stderr: %r" % r.stderr
    started, succeeded, failed, errors = map(int, m.groups())
    assert errors == 0, r.stderr
    assert started > 10, "a 2 s run at 20/s should start dozens, got %d" % started
    assert started == succeeded + failed, m.group(0)
    assert "daemon replied" not in r.stderr, r.stderr

    (setup,) = d.wait_reports("setup_run", 1)
    assert setup["status"] == "ready", setup
    assert "simulated setup" in setup["logs"], setup["logs"]
    reports = stop_and_check(d)
    t = totals(reports)
    assert t == {"started": started, "succeeded": succeeded, "failed": failed,
                 "canceled": 0, "aborted": 0}, "reports %r vs simulate %r" % (t, m.group(0))
    assert len(reports) >= 4, "expected a report every 500 ms, got %d" % len(reports)
    assert max(r["max_concurrency"] for r in reports) <= 3, [r["max_concurrency"] for r in reports]
    assert max(r["max_concurrency"] for r in reports) >= 1
    assert sum(r["active_time"] for r in reports) > 0


if __name__ == "__main__":
    harness.main(globals())
