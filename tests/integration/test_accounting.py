"""The real daemon's reports against a schedule whose true figures are known.

The client plays a schedule of overlapping predictions and records, on its
own monotonic clock, when it sent each start and stop. From those times it
computes the true active time and the true integral of the level; the sum
over the daemon's stdout reports must match within 1 %. The schedule runs in
real time, but nothing is timed against a guess: the truth is what the
client actually did.
"""

import signal
import time

import harness
from harness import Client, daemon

INTERVAL = 0.5

# (offset seconds, line)
SCHEDULE = [
    (0.00, "start a model=m1"),
    (0.30, "start b"),
    (0.60, "start c"),
    (0.90, "stop a succeeded output_tokens=12"),
    (1.20, "stop b failed error_code=E1"),
    (1.50, "start d"),
    (1.80, "stop c canceled"),
    (2.40, "stop d succeeded"),
]


def play(client):
    """Send the schedule; return [(t, level)] at the times lines were sent."""
    t0 = time.monotonic()
    steps = []
    level = 0
    for offset, line in SCHEDULE:
        while time.monotonic() < t0 + offset:
            time.sleep(0.001)
        assert client.call(line) == "ok", line
        level += 1 if line.startswith("start") else -1
        steps.append((time.monotonic(), level))
    return steps


def truth(steps):
    active = integral = 0.0
    for (t, level), (t_next, _) in zip(steps, steps[1:]):
        integral += level * (t_next - t)
        if level > 0:
            active += t_next - t
    return active, integral


def check_contiguous(reports):
    assert [r["sequence"] for r in reports] == list(range(len(reports))), \
        [r["sequence"] for r in reports]
    for prev, cur in zip(reports, reports[1:]):
        assert cur["interval_start"] == prev["interval_end"], (prev, cur)
        assert cur["run_id"] == prev["run_id"]
    assert [r["final"] for r in reports] == [False] * (len(reports) - 1) + [True]
    for r in reports:
        parts = round((r["boot_time"] + r["idle_time"] + r["active_time"]) * 1000)
        assert parts == round(r["metric_duration"] * 1000), r
        if not r["final"]:
            assert abs(r["metric_duration"] - INTERVAL) < 1e-9, r


def test_schedule_matches_reports(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 500ms\n")
    c = Client(d.socket_path, ack=True)
    assert c.call("setup done ready") == "ok"
    steps = play(c)
    c.close()
    true_active, true_integral = truth(steps)
    assert d.stop(signal.SIGTERM) == 0
    reports = d.reports_of("instance_state")
    check_contiguous(reports)

    active = sum(r["active_time"] for r in reports)
    integral = sum(r["mean_concurrency"] * r["metric_duration"] for r in reports)
    assert abs(active - true_active) <= 0.01 * true_active, (active, true_active)
    assert abs(integral - true_integral) <= 0.01 * true_integral, (integral, true_integral)
    assert max(r["max_concurrency"] for r in reports) == 3

    totals = {k: sum(r["predictions"][k] for r in reports)
              for k in ("started", "succeeded", "failed", "canceled", "aborted")}
    assert totals == {"started": 4, "succeeded": 2, "failed": 1, "canceled": 1,
                      "aborted": 0}, totals
    for r in reports:
        assert 0.0 <= r["utilization"] <= 1.0
        if r["metric_duration"] > 0:
            assert abs(r["utilization"] - r["active_time"] / r["metric_duration"]) < 0.002


def test_disconnect_aborts_in_flight(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 200ms\n")
    a = Client(d.socket_path, ack=True)
    b = Client(d.socket_path, ack=True)
    for line in ("start a1", "start a2", "enqueue a3"):
        assert a.call(line) == "ok"
    assert b.call("start b1") == "ok"
    assert b.state()["level"] == 3
    a.close()
    st = harness.wait_for(lambda: (lambda s: s if s["level"] == 1 else None)(b.state()),
                          5, "level 1 after the disconnect")
    assert st["pending"] == 0 and st["connections"] == 1, st
    assert b.call("stop b1 succeeded") == "ok"
    b.close()
    assert d.stop() == 0
    reports = d.reports_of("instance_state")
    aborted = sum(r["predictions"]["aborted"] for r in reports)
    assert aborted == 3, aborted
    assert reports[-1]["state"] == "boot"


def test_no_abort_when_disabled(workdir):
    d = daemon(workdir, "[socket]\nabort_on_disconnect = false\n")
    a = Client(d.socket_path, ack=True)
    assert a.call("start keep") == "ok"
    a.close()
    b = Client(d.socket_path, ack=True)
    harness.wait_for(lambda: b.state()["connections"] == 1, 5, "a's close")
    assert b.state()["level"] == 1
    assert b.call("stop keep succeeded") == "ok"
    assert b.state()["level"] == 0
    b.close()
    assert d.stop() == 0


if __name__ == "__main__":
    harness.main(globals())
