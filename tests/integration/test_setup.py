"""Setup reports and timeouts through the real binary."""

import signal

import harness
from harness import Client, daemon


def test_setup_report_ready(workdir):
    d = daemon(workdir, "[runtime_metadata]\ncog_version = 0.9\n[identity]\nversion = v7\n",
               env={"POD_SCHEDULED_AT": "2020-01-01T00:00:00Z"})
    c = Client(d.socket_path, ack=True)
    assert c.call("setup start") == "ok"
    for i in range(3):
        assert c.call("setup log line %d   with  spaces" % i) == "ok"
    assert c.call("setup log ünïcödé ✓") == "ok"
    assert c.call("setup done succeeded") == "ok"
    assert c.call("setup done ready").startswith("err setup-already-done")
    (rep,) = d.wait_reports("setup_run", 1)
    assert rep["status"] == "ready"
    assert rep["logs"] == ("line 0   with  spaces\nline 1   with  spaces\n"
                           "line 2   with  spaces\nünïcödé ✓\n"), rep["logs"]
    assert rep["runtime_metadata"] == {"cog_version": "0.9"}
    assert rep["duration_seconds"] >= 0
    assert rep["started_at"] <= rep["completed_at"]
    assert rep["scheduled_to_setup_started"] > 0 and rep["scheduled_to_ready"] > 0
    assert rep["version"] == "v7"
    assert c.state()["state"] == "idle"
    c.close()
    assert d.stop() == 0
    assert len(d.reports_of("setup_run")) == 1


def test_setup_log_tail_is_20kib(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path)
    line = "x" * 99  # 100 bytes with the newline
    for i in range(500):
        c.send("setup log " + line)
    c.send("setup log é" * 1)
    c.send("setup done failed")
    (rep,) = d.wait_reports("setup_run", 1)
    assert rep["status"] == "failed"
    assert len(rep["logs"].encode()) <= 20480
    assert len(rep["logs"].encode()) >= 20480 - 3
    assert rep["logs"].endswith(line + "\né\n")
    assert d.stop() == 0


def test_setup_timeout_then_late_ready(workdir):
    d = daemon(workdir, "[monitor]\nsetup_timeout = 300ms\n")
    (rep,) = d.wait_reports("setup_run", 1, timeout=10)
    assert rep["status"] == "timeout"
    c = Client(d.socket_path, ack=True)
    assert c.state()["state"] == "boot"
    assert c.state()["setup"]["status"] == "timeout"
    assert c.call("setup done ready") == "ok"
    st = c.state()
    assert st["state"] == "idle" and st["setup"]["status"] == "ready"
    d.wait_log("after its timeout")
    assert d.stop() == 0
    assert len(d.reports_of("setup_run")) == 1


def test_prediction_timeout_aborts(workdir):
    d = daemon(workdir, "[monitor]\nprediction_timeout = 300ms\n")
    c = Client(d.socket_path, ack=True)
    assert c.call("start forgotten") == "ok"
    harness.wait_for(lambda: c.state()["level"] == 0, 10, "the reaper to abort the prediction")
    assert c.call("stop forgotten succeeded").startswith("err unknown-id")
    d.wait_log("prediction aborted")
    assert d.stop() == 0
    total = sum(r["predictions"]["aborted"] for r in d.reports_of("instance_state"))
    assert total == 1


if __name__ == "__main__":
    harness.main(globals())
