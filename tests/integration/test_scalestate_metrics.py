"""The autoscaler gauges on GET /metrics (SPEC 4 and 5), with real Redis.

The gauges say what the last scale snapshot said, and only while there is
one to say it: the leader exports them after each snapshot it writes; a
pod that is not the leader, or whose snapshot failed, exports none. So a
scrape never shows a frozen value, and "no gauge for a deployable" means
no snapshots (the PodpulseScaleSnapshotsStale alert rests on this).
"""

import re

import harness
from harness import Client, daemon, wait_for
from redis_server import servers


def ini(blue_url, iid):
    return ("[identity]\ninstance_id = %s\ndeployment_key = acme/m\n"
            "[scalestate]\nredis_url = %s\nqueue_key = q\n"
            "interval = 200ms\nconnect_timeout = 500ms\ncommand_timeout = 500ms\n"
            "reconnect_base = 50ms\nreconnect_max = 200ms\n" % (iid, blue_url))


def gauges(d):
    """{name: value} of the autoscaler_* samples of one scrape."""
    status, _, body = harness.http(d.http_port, "GET", "/metrics")
    assert status == 200
    out = {}
    for m in re.finditer(r'^(autoscaler_snapshot_\w+)\{deployment_key="acme/m"\} (\S+)$',
                         body.decode(), re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def test_only_the_leader_exports_the_last_snapshot(workdir):
    with servers(workdir) as redis:
        blue = redis("blue")
        blue.cmd("RPUSH", "q", "x", "y", "z")
        ds = {n: daemon(workdir, ini(blue.url(), n), name=n) for n in ("a", "b")}
        for d in ds.values():
            c = Client(d.socket_path, ack=True)
            assert c.call("setup done ready") == "ok"
            c.close()
        want = {"autoscaler_snapshot_queue_length": 3.0,
                "autoscaler_snapshot_replica_count": 2.0}
        leader = wait_for(lambda: blue.cmd("GET", "podpulse:leader:acme/m"), 5, "a leader")
        other = "b" if leader == "a" else "a"
        wait_for(lambda: gauges(ds[leader]) == want, 5, "the leader's gauges")
        assert gauges(ds[other]) == {}, gauges(ds[other])

        # Blue goes away: no snapshot can be written, so none is shown.
        blue.stop()
        wait_for(lambda: gauges(ds[leader]) == {}, 5, "the gauges gone during the outage")
        blue.start()
        blue.cmd("RPUSH", "q", "x")
        wait_for(lambda: any(gauges(d).get("autoscaler_snapshot_queue_length") == 1.0
                             for d in ds.values()), 10, "gauges back after the outage")
        for d in ds.values():
            assert d.stop() == 0


harness.main(globals())
