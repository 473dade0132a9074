"""A real Prometheus server scrapes the daemon (every second, asking for
OpenMetrics first) while a known schedule runs over the socket; the
utilization Prometheus computes from podpulse_state_seconds_total must
match the schedule's."""

import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import harness
from harness import Client, daemon, free_port, wait_for

PERIOD = 0.1        # one prediction every 100 ms ...
ACTIVE = 0.05       # ... running for 50 ms: utilization 0.5
RUN = 14.0          # seconds of schedule
WINDOW = "8s"


def prom_query(port, query, at=None):
    params = {"query": query}
    if at is not None:
        params["time"] = "%.3f" % at
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def prom_targets(port):
    url = "http://127.0.0.1:%d/api/v1/targets" % port
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)["data"]["activeTargets"]


def start_prometheus(workdir, target_port):
    port = free_port()
    cfg = os.path.join(workdir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                "scrape_configs:\n  - job_name: podpulse\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % target_port)
    log = open(os.path.join(workdir, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                             "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=log, cwd=workdir)
    return proc, port


def schedule(sock_path, out):
    """Predictions on an absolute 100 ms grid; records what really ran."""
    c = Client(sock_path, ack=True)
    active = 0.0
    t0 = time.monotonic()
    i = 0
    while True:
        start = t0 + i * PERIOD
        if start + PERIOD > t0 + RUN:
            break
        while time.monotonic() < start:
            time.sleep(max(0.0, start - time.monotonic()))
        a = time.monotonic()
        assert c.call("start p%d" % i) == "ok"
        while time.monotonic() < start + ACTIVE:
            time.sleep(max(0.0, start + ACTIVE - time.monotonic()))
        assert c.call("stop p%d succeeded" % i) == "ok"
        active += time.monotonic() - a
        i += 1
    out["wall_end"] = time.time()
    out["utilization"] = active / (time.monotonic() - t0)
    out["count"] = i


def test_prometheus_rate_matches_schedule(workdir):
    d = daemon(workdir)
    Client(d.socket_path, ack=True).call("setup done ready")
    prom, port = start_prometheus(workdir, d.http_port)
    try:
        wait_for(lambda: any(t["health"] == "up" for t in prom_targets(port))
                 if _up(port) else False, 30, "Prometheus to scrape podpulse")
        out = {}
        t = threading.Thread(target=schedule, args=(d.socket_path, out))
        t.start()
        t.join(RUN + 30)
        assert "utilization" in out, "the schedule did not finish"
        # A window well inside the schedule, after a scrape has landed.
        at = out["wall_end"] - 1.5
        wait_for(lambda: time.time() > out["wall_end"] + 1.5, 5, "a last scrape")
        res = prom_query(port, 'rate(podpulse_state_seconds_total{state="active"}[%s])'
                         % WINDOW, at)
        assert len(res) == 1, res
        got = float(res[0]["value"][1])
        nominal = ACTIVE / PERIOD
        want = out["utilization"]
        print("prometheus rate %.4f, schedule measured %.4f (nominal %.4f)" %
              (got, want, nominal))
        # Against what the schedule really ran (a loaded machine stretches
        # the 50 ms a little); and that is near the plan.
        assert abs(got - want) <= 0.05 * want, (got, want)
        assert abs(want - nominal) <= 0.1 * nominal, (want, nominal)
        # One prediction at a time: the mean concurrency is the utilization.
        res = prom_query(port, 'rate(podpulse_concurrency_seconds_total[%s])' % WINDOW, at)
        assert abs(float(res[0]["value"][1]) - got) < 0.005, (res, got)
        # The three states add up to wall time: rate of the sum is 1.
        res = prom_query(port, 'sum(rate(podpulse_state_seconds_total[%s]))' % WINDOW, at)
        assert abs(float(res[0]["value"][1]) - 1.0) < 0.02, res
        res = prom_query(port, 'podpulse_predictions_total{status="started"}')
        assert int(float(res[0]["value"][1])) == out["count"], (res, out)
        # Prometheus asked for OpenMetrics and parsed it without error.
        tgt = [x for x in prom_targets(port) if x["health"] == "up"][0]
        assert tgt["lastError"] == "", tgt
    finally:
        prom.terminate()
        prom.wait(20)
    assert d.stop() == 0


def _up(port):
    try:
        prom_targets(port)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    harness.main(globals())
