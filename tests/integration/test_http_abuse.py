"""Bad HTTP clients cost only themselves: slow and idle connections,
the connection cap, oversized headers and bodies, garbage requests. The
Unix socket keeps answering throughout, and memory stays bounded."""

import socket
import time

import harness
from harness import Client, daemon, http, rss_kib, wait_for

INI = "[http]\nconnection_timeout = 1s\nmax_connections = 4\n"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def closed_by_peer(s):
    """True once the server has closed s (EOF or reset)."""
    s.setblocking(False)
    try:
        data = s.recv(65536)
        return data == b"" or b"HTTP/1.1" in data and _drain_eof(s)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def _drain_eof(s):
    try:
        return s.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_idle_and_slow_clients_are_dropped(workdir):
    d = daemon(workdir, INI)
    c = Client(d.socket_path)
    idle = [connect(d.http_port) for _ in range(2)]
    slow = [connect(d.http_port) for _ in range(2)]
    for s in slow:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # The cap is reached: the socket still answers, and so does the loop.
    assert c.call("ping") == "pong"
    started = time.monotonic()
    for s in idle + slow:
        wait_for(lambda: closed_by_peer(s), 10, "the server to drop a silent client")
    # Dropped by the 1 s timeout, not by chance.
    assert time.monotonic() - started < 5
    assert c.call("ping") == "pong"
    assert http(d.http_port, "GET", "/healthz")[0] == 200
    for s in idle + slow:
        s.close()
    assert d.stop() == 0


def test_shutdown_with_connections_open(workdir):
    """SIGTERM with HTTP clients mid-request: clean exit, no handle left
    (and, in the sanitizer build, no leak)."""
    d = daemon(workdir, "[http]\nconnection_timeout = 30s\n")
    idle = connect(d.http_port)
    partial = connect(d.http_port)
    partial.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ty")
    # Both are open on the daemon's side before the signal.
    assert http(d.http_port, "GET", "/healthz")[0] == 200
    assert d.stop() == 0
    assert not any("handle left open" in l for l in d.log_lines()), d.log_lines()
    idle.close()
    partial.close()


def test_trickling_slowloris_is_dropped(workdir):
    """A byte every 300 ms resets an idle timeout forever; the head
    deadline (http.connection_timeout from the connection's start) does
    not."""
    d = daemon(workdir, INI)
    c = Client(d.socket_path)
    s = connect(d.http_port)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    dropped = False
    while time.monotonic() - started < 6:
        try:
            s.sendall(b"X")
        except OSError:
            dropped = True
            break
        if closed_by_peer(s):
            dropped = True
            break
        assert c.call("ping") == "pong"
        time.sleep(0.3)   # the client's pace, not a wait for the daemon
    elapsed = time.monotonic() - started
    assert dropped, "a trickling client kept its connection for 6 s"
    assert elapsed < 3.0, elapsed
    s.close()
    assert http(d.http_port, "GET", "/healthz")[0] == 200
    m = http(d.http_port, "GET", "/metrics")[2].decode()
    assert 'podpulse_http_rejected_total{reason="head_timeout"} 1' in m, m
    assert d.stop() == 0


def test_connection_cap(workdir):
    d = daemon(workdir, "[http]\nconnection_timeout = 30s\nmax_connections = 4\n")
    held = [connect(d.http_port) for _ in range(4)]
    c = Client(d.socket_path)

    def refused():
        try:
            status = http(d.http_port, "GET", "/healthz", timeout=2)[0]
            return False if status == 200 else True
        except OSError:
            return True
    wait_for(refused, 10, "a 5th connection to be refused")
    assert c.call("ping") == "pong"
    for s in held:
        s.close()
    wait_for(lambda: not refused(), 10, "the endpoint to serve again")
    assert d.stop() == 0


def test_oversized_headers_and_garbage(workdir):
    d = daemon(workdir, "[http]\nconnection_timeout = 1s\n")
    s = connect(d.http_port)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    reply = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    s.close()
    assert reply == b"" or reply.split(b" ")[1] in (b"400", b"413", b"431"), reply[:100]
    for junk in (b"HELLO\r\n\r\n", b"\x00\xff\xfe garbage\r\n\r\n",
                 b"GET /healthz HTTP/9.9\r\n\r\n"):
        s = connect(d.http_port)
        s.sendall(junk)
        s.settimeout(5)
        try:
            reply = s.recv(65536)
        except OSError:
            reply = b""
        s.close()
        assert reply == b"" or reply.startswith(b"HTTP/1."), (junk, reply[:100])
    assert Client(d.socket_path).call("ping") == "pong"
    assert http(d.http_port, "GET", "/healthz")[0] == 200
    assert d.stop() == 0


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def test_memory_bounded_under_bad_bodies(workdir):
    d = daemon(workdir, "[http]\ndownload_metrics_rps = 1000000\n")
    body = b"{" + b"\xff" * 60000
    for _ in range(20):
        assert http(d.http_port, "POST", "/metrics", body=body)[0] == 400
    before = rss_kib(d.proc.pid)
    for _ in range(300):
        status, _, reply = http(d.http_port, "POST", "/metrics", body=body)
        assert status == 400 and b"UTF-8" in reply
        assert http(d.http_port, "POST", "/metrics", body=b"[" * 60000)[0] == 400
    after = rss_kib(d.proc.pid)
    # ASan keeps freed memory in quarantine: RSS says nothing there (its
    # leak check at exit covers that build instead).
    if not sanitized(d.proc.pid):
        assert after - before < 8 * 1024, (before, after)
    assert Client(d.socket_path).call("ping") == "pong"
    assert d.stop() == 0


if __name__ == "__main__":
    harness.main(globals())
