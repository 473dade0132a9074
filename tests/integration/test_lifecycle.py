"""Start, stop, reload and the socket-file rules, through the real binary."""

import json
import os
import signal
import socket
import stat
import subprocess

import harness
from harness import Client, daemon


def test_sigterm_final_report_and_socket_removed(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 1h\n")
    c = Client(d.socket_path, ack=True)
    assert c.call("start p1") == "ok"
    assert d.stop(signal.SIGTERM) == 0
    reports = d.reports_of("instance_state")
    assert len(reports) == 1, reports
    final = reports[0]
    assert final["final"] is True and final["sequence"] == 0
    # The connection was closed at shutdown, so its prediction was aborted.
    assert final["predictions"]["aborted"] == 1
    assert final["predictions"]["started"] == 1
    assert not os.path.exists(d.socket_path)
    assert any('"shutting down"' in l for l in d.log_lines())


def test_sigint_is_a_clean_shutdown_too(workdir):
    d = daemon(workdir)
    assert d.stop(signal.SIGINT) == 0
    assert d.reports_of("instance_state")[-1]["final"] is True


def test_stale_socket_is_replaced(workdir):
    path = os.path.join(workdir, "podpulse.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens: what kill -9 leaves
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    d = daemon(workdir)
    d.wait_log("removed stale socket")
    assert Client(d.socket_path).call("ping") == "pong"
    assert d.stop() == 0


def test_live_socket_refuses_second_instance(workdir):
    first = daemon(workdir)
    second = daemon(workdir, start=False)
    second.start(wait=False)
    code = second.wait_exit(10)
    assert code == 1, code
    assert any("another podpulse listens" in l for l in second.log_lines()), second.log_lines()
    # The first one is untouched.
    assert Client(first.socket_path).call("ping") == "pong"
    assert first.stop() == 0


def test_regular_file_is_left_alone(workdir):
    path = os.path.join(workdir, "podpulse.sock")
    with open(path, "w") as f:
        f.write("precious")
    d = daemon(workdir, start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    with open(path) as f:
        assert f.read() == "precious"
    assert any("not a socket" in l for l in d.log_lines()), d.log_lines()


def test_socket_mode(workdir):
    d = daemon(workdir, "[socket]\nmode = 0600\n")
    assert stat.S_IMODE(os.stat(d.socket_path).st_mode) == 0o600
    assert d.stop() == 0


def test_bad_config_exits_2_naming_file_line_key(workdir):
    d = daemon(workdir, "[monitor]\nreport_interval = 15x\n", start=False)
    d.start(wait=False)
    assert d.wait_exit(10) == 2
    d.stop()
    err = "\n".join(d.log_lines())
    assert "podpulse.ini:" in err and "report_interval" in err, err
    assert err.count("\n") == 0, err  # one line


def test_unreadable_explicit_config_exits_2(workdir):
    r = subprocess.run([harness.ARGS.podpulse, "-c", os.path.join(workdir, "missing.ini")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "missing.ini" in r.stderr


def test_check_config_redacts_secrets(workdir):
    ini = os.path.join(workdir, "c.ini")
    with open(ini, "w") as f:
        f.write("[report]\nauth_token = s3cr3t-token\n")
    env = dict(os.environ, PODPULSE_MONITOR_REPORT_INTERVAL="2s")
    r = subprocess.run([harness.ARGS.podpulse, "--check-config", "-c", ini,
                        "-o", "socket.max_connections=7"],
                       capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 0, r.stderr
    assert "s3cr3t" not in r.stdout and "***" in r.stdout
    assert "report_interval = 2s" in r.stdout, r.stdout
    assert "max_connections = 7" in r.stdout, r.stdout


def test_version_and_help(workdir):
    r = subprocess.run([harness.ARGS.podpulse, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("podpulse ")
    r = subprocess.run([harness.ARGS.podpulse, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = subprocess.run([harness.ARGS.podpulse, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2


def test_sighup_reload(workdir):
    d = daemon(workdir, "[identity]\nversion = v1\n[monitor]\nreport_interval = 200ms\n")
    text = open(d.config_path).read()
    text = text.replace("version = v1", "version = v2").replace("200ms", "300ms")
    with open(d.config_path, "w") as f:
        f.write(text)
    d.signal(signal.SIGHUP)
    d.wait_log("configuration reloaded")
    kept = d.wait_log("cannot change at run time")
    assert "monitor.report_interval" in kept[0], kept
    harness.wait_for(lambda: any(r["version"] == "v2" for r in d.reports_of("instance_state")),
                     5, "a report with the reloaded version")
    # A broken file on reload changes nothing.
    with open(d.config_path, "w") as f:
        f.write(text.replace("version = v2", "version = v3\nbogus_key = 1"))
    d.signal(signal.SIGHUP)
    d.wait_log("reload failed")
    assert Client(d.socket_path).call("ping") == "pong"
    assert d.stop() == 0
    last = d.reports_of("instance_state")[-1]
    assert last["version"] == "v2"
    assert abs(d.reports_of("instance_state")[0]["metric_duration"] - 0.2) < 1e-9


def test_identity_from_env(workdir):
    d = daemon(workdir, "[instance_metadata]\nzone = z1\n",
               env={"POD_NAME": "pod-7", "POD_NAMESPACE": "ns", "NODE_NAME": "node-3",
                    "PODPULSE_IDENTITY_DEPLOYMENT_KEY": "acme/llm"})
    assert d.stop() == 0
    r = d.reports_of("instance_state")[-1]
    assert r["instance_id"] == "pod-7"
    assert r["deployment_key"] == "acme/llm"
    assert r["instance_metadata"] == {"pod_name": "pod-7", "pod_namespace": "ns",
                                      "node_name": "node-3", "zone": "z1"}, r["instance_metadata"]


if __name__ == "__main__":
    harness.main(globals())
