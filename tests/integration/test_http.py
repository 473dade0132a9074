"""The HTTP endpoint through the real binary: probes, state, routing and
limits, the metrics in both formats (promtool), the download intake."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import Client, daemon, http, wait_for


def get(d, path, headers=None):
    return http(d.http_port, "GET", path, headers=headers)


def post(d, body, path="/metrics", headers=None):
    return http(d.http_port, "POST", path, body=body, headers=headers)


def test_healthz_readyz_boot_to_ready(workdir):
    d = daemon(workdir)
    assert get(d, "/healthz")[:1] == (200,)
    assert get(d, "/healthz")[2] == b"ok\n"
    status, _, body = get(d, "/readyz")
    assert status == 503 and b"setup is running" in body, (status, body)
    c = Client(d.socket_path, ack=True)
    assert c.call("setup done ready") == "ok"
    status, _, body = get(d, "/readyz")
    assert status == 200 and body == b"ok\n", (status, body)
    assert d.stop() == 0
    assert not any('"handle left open' in l for l in d.log_lines())


def test_keep_alive(workdir):
    """Prometheus keeps its connection between scrapes."""
    import http.client
    d = daemon(workdir)
    c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
    for path in ("/healthz", "/metrics", "/v1/state", "/readyz"):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status in (200, 503), (path, r.status)
        assert r.getheader("Connection") != "close", path
    c.request("POST", "/metrics", body=b'{"type":"x"}')
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"ok\n"
    c.close()
    assert d.stop() == 0


def test_readyz_boot_to_failed_and_timeout(workdir):
    d = daemon(workdir)
    Client(d.socket_path, ack=True).call("setup done failed")
    status, _, body = get(d, "/readyz")
    assert status == 503 and b"setup failed" in body, (status, body)
    assert d.stop() == 0
    d2 = daemon(workdir, "[monitor]\nsetup_timeout = 100ms\n", name="t")
    wait_for(lambda: b"timed out" in get(d2, "/readyz")[2], 10,
             "/readyz to say the setup timed out")
    assert get(d2, "/readyz")[0] == 503
    assert d2.stop() == 0


def test_state_is_the_socket_state(workdir):
    d = daemon(workdir)
    c = Client(d.socket_path, ack=True)
    assert c.call("setup done ready") == "ok"
    assert c.call("enqueue q1") == "ok"
    assert c.call("start p1") == "ok"
    status, headers, body = get(d, "/v1/state")
    assert status == 200 and headers["content-type"] == "application/json"
    st = json.loads(body)
    sock = c.state()
    assert set(st) == set(sock), (sorted(st), sorted(sock))
    for k in ("state", "level", "pending", "in_flight", "connections",
              "run_id", "reports_pending"):
        assert st[k] == sock[k], (k, st[k], sock[k])
    assert st["state"] == "active" and st["level"] == 1 and st["pending"] == 1
    assert st["setup"]["status"] == "ready" and st["setup"]["completed_at"]
    for k in ("elapsed", "boot_time", "idle_time", "active_time", "max_concurrency"):
        assert k in st["interval"], k
    # The setup report went out (its stdout write completes on the loop):
    # the state says so.
    last = wait_for(lambda: json.loads(get(d, "/v1/state")[2])["last_report"],
                    what="a last_report in the state")
    assert last == {"kind": "setup_run", "outcome": "delivered"}, last
    assert d.stop() == 0


def test_state_before_any_report(workdir):
    d = daemon(workdir)
    st = json.loads(get(d, "/v1/state")[2])
    assert st["last_report"] is None, st
    assert d.stop() == 0


def test_routing_404_405_413(workdir):
    d = daemon(workdir, "[http]\nmax_body = 1KiB\n")
    assert get(d, "/nope")[0] == 404
    assert get(d, "/metrics/")[0] == 404
    status, headers, _ = http(d.http_port, "DELETE", "/metrics")
    assert status == 405 and headers["allow"] == "GET, HEAD, POST", headers
    status, headers, _ = post(d, b"{}", path="/healthz")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert http(d.http_port, "HEAD", "/healthz")[0] == 200
    # Declared too large: refused before the body is read.
    assert post(d, b"x" * 1025)[0] == 413
    # Chunked and too large: discarded as it comes, refused at the end.
    def chunks():
        for _ in range(40):
            yield b"y" * 100
    status, _, _ = http(d.http_port, "POST", "/metrics", body=chunks(),
                        headers={"Transfer-Encoding": "chunked"}, chunked=True)
    assert status == 413, status
    ok = b'{"type":"download","data":{"url":"http://h/x"}}'
    assert post(d, ok)[0] == 200
    m = get(d, "/metrics")[2].decode()
    assert 'podpulse_http_rejected_total{reason="too_large"} 2' in m, m
    assert 'podpulse_http_rejected_total{reason="not_found"} 2' in m
    assert 'podpulse_http_rejected_total{reason="method_not_allowed"} 2' in m
    assert d.stop() == 0


def promtool(text):
    return subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=30)


def sample(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, "no sample %s in:\n%s" % (name, text)
    return float(m.group(1))


def test_metrics_both_formats(workdir):
    d = daemon(workdir, "[monitor]\nmax_concurrency = 2\n")
    c = Client(d.socket_path, ack=True)
    for line in ("setup done ready", "enqueue a", "start a", "start b",
                 "stop a succeeded", "stop b failed", "start c", "bogus"):
        c.call(line)
    status, headers, body = get(d, "/metrics")
    text = body.decode()
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    r = promtool(text)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sample(text, 'podpulse_state{state="active"}') == 1
    assert sample(text, 'podpulse_concurrency') == 1
    assert sample(text, 'podpulse_predictions_total{status="started"}') == 3
    assert sample(text, 'podpulse_predictions_total{status="succeeded"}') == 1
    assert sample(text, 'podpulse_predictions_total{status="failed"}') == 1
    assert sample(text, 'podpulse_prediction_duration_seconds_count') == 2
    assert sample(text, 'podpulse_prediction_duration_seconds_bucket{le="+Inf"}') == 2
    assert sample(text, 'podpulse_queue_duration_seconds_count') == 1
    assert sample(text, 'podpulse_protocol_errors_total{reason="unknown-command"}') == 1
    assert sample(text, 'podpulse_connections') == 1
    assert sample(text, 'podpulse_build_info{version="0.1.0"}') == 1
    assert 'podpulse_reports_total{kind="instance_state",outcome="delivered"}' in text
    les = re.findall(r'podpulse_queue_duration_seconds_bucket\{le="([^"]+)"\}', text)
    assert les == ["0.005", "0.01", "0.02", "0.05", "0.1", "0.25", "0.5", "1",
                   "2", "5", "10", "30", "60", "120", "300", "+Inf"], les
    # Exact integrals up to the scrape: the state seconds add up to the uptime.
    t1 = sum(sample(text, 'podpulse_state_seconds_total{state="%s"}' % s)
             for s in ("boot", "idle", "active"))
    t2 = sum(sample(get(d, "/metrics")[2].decode(),
                    'podpulse_state_seconds_total{state="%s"}' % s)
             for s in ("boot", "idle", "active"))
    assert 0 < t1 < t2, (t1, t2)

    status, headers, body = get(d, "/metrics", {
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
    om = body.decode()
    assert headers["content-type"].startswith("application/openmetrics-text"), headers
    assert om.endswith("# EOF\n") and om.count("# EOF") == 1
    assert "# TYPE podpulse_state_seconds counter\n# UNIT podpulse_state_seconds seconds\n" in om
    assert 'podpulse_state_seconds_total{state="active"}' in om
    assert '# TYPE podpulse_prediction_duration_seconds histogram' in om
    assert 'podpulse_prediction_duration_seconds_bucket{le="1.0"} 2' in om
    assert "_total_total" not in om
    # promtool (2.42) reads only the 0.0.4 format; the OpenMetrics body is
    # checked here for its shape, and parsed by a real Prometheus, which
    # asks for OpenMetrics first, in test_prometheus.
    assert d.stop() == 0


SECRET = "X-Amz-Signature=f00dfeedSECRET"


def envelope(url, **data):
    data["url"] = url
    return json.dumps({"source": "pget", "type": "download", "data": data}).encode()


def test_download_intake(workdir):
    d = daemon(workdir)
    url = "https://AKIAUSER:passw0rd@bucket.s3.amazonaws.com/w/model.bin?%s#frag" % SECRET
    assert post(d, envelope(url, size=1000, version="0.8", bytes_per_second=1e6))[0] == 200
    assert post(d, envelope(url, size=-1, error="403 Forbidden"))[0] == 200
    assert post(d, envelope("https://huggingface.co/o/m/resolve/main/f?token=hf_SECRET",
                            size=5))[0] == 200
    status, _, body = post(d, b'{"source":"cog-runtime","type":"runner","data":{"x":1}}')
    assert status == 200
    for bad, why in ((b'{"source":"pget"}', b"missing field: type"),
                     (b'not json', b"invalid JSON"),
                     (b'{"type":"download","data":{"url":"http://h/","size":"9"}}',
                      b"data.size must be a number"),
                     (b'{"type":"\xff"}', b"not valid UTF-8"),
                     (b'{"type":"download","data":{}}', b"data.url")):
        status, _, body = post(d, bad)
        assert status == 400 and why in body, (bad, status, body)
    m = get(d, "/metrics")[2].decode()
    assert 'podpulse_downloads_total{host="bucket.s3.amazonaws.com"} 2' in m, m
    assert 'podpulse_download_bytes_total{host="bucket.s3.amazonaws.com"} 1000' in m
    assert 'podpulse_download_errors_total{host="bucket.s3.amazonaws.com"} 1' in m
    assert 'podpulse_downloads_total{host="huggingface.co"} 1' in m
    assert 'podpulse_metrics_intake_total{source="cog-runtime",type="runner"} 1' in m
    logs = d.log_lines()
    assert any('"url":"https://bucket.s3.amazonaws.com/w/model.bin"' in l for l in logs), logs
    assert any('"type":"runner"' in l for l in logs)
    assert d.stop() == 0
    everything = "\n".join(d.log_lines()) + m
    for secret in ("SECRET", "passw0rd", "AKIAUSER", "token=", "frag"):
        assert secret not in everything, secret


def test_download_rate_limit(workdir):
    d = daemon(workdir)      # the default: 100 per second, burst 100
    body = envelope("http://h/x", size=1)
    codes = []
    started = time.monotonic()
    for _ in range(150):
        codes.append(post(d, body)[0])
    elapsed = time.monotonic() - started
    ok, limited = codes.count(200), codes.count(429)
    assert ok + limited == 150, codes
    # The bucket starts with 100 tokens and refills 100 per second.
    assert 100 <= ok <= 100 + int(100 * elapsed) + 1, (ok, elapsed)
    assert limited >= 150 - (100 + int(100 * elapsed) + 1), (limited, elapsed)
    if elapsed < 0.2:       # the usual case: the bucket visibly bites
        assert limited >= 25, (limited, elapsed)
    m = get(d, "/metrics")[2].decode()
    assert 'podpulse_http_rejected_total{reason="rate_limited"} %d' % limited in m
    assert d.stop() == 0


def test_reload_changes_the_intake_rate(workdir):
    d = daemon(workdir, "[http]\ndownload_metrics_rps = 1000\n")
    body = envelope("http://h/x", size=1)
    assert [post(d, body)[0] for _ in range(5)] == [200] * 5
    with open(d.config_path) as f:
        ini = f.read()
    with open(d.config_path, "w") as f:
        f.write(ini.replace("download_metrics_rps = 1000", "download_metrics_rps = 2"))
    d.signal(signal.SIGHUP)
    d.wait_log("configuration reloaded")
    codes = [post(d, body)[0] for _ in range(10)]
    assert codes.count(429) >= 10 - 2 - 1, codes
    assert d.stop() == 0


def test_ipv6_listen(workdir):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        print("skipped: no IPv6 loopback here")
        return
    d = daemon(workdir, "[http]\nlisten = [::1]:%d\n" % port)
    import http.client
    c = http.client.HTTPConnection("::1", port, timeout=10)
    c.request("GET", "/healthz")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"ok\n"
    c.close()
    assert d.stop() == 0


def test_disabled(workdir):
    d = daemon(workdir, "[http]\nlisten =\n")
    d.wait_log('"http":"disabled"')
    assert Client(d.socket_path).call("ping") == "pong"
    assert d.stop() == 0


def test_port_in_use_exits_1(workdir):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    d = daemon(workdir, "[http]\nlisten = 127.0.0.1:%d\n" % port, start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 1
    assert any("cannot start the HTTP endpoint" in l for l in d.log_lines()), d.log_lines()
    s.close()


if __name__ == "__main__":
    harness.main(globals())
