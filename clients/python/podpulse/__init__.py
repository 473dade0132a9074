"""podpulse -- the Python client of the podpulse telemetry sidecar.

A model server's request path must never block on telemetry. Every signal
(start, stop, enqueue, setup_*) only validates its arguments and appends one
protocol line to a bounded in-memory buffer under a lock, then returns. A
background thread owns the Unix socket: it connects, writes the buffer,
notices when the daemon goes away and reconnects with a capped exponential
backoff (0.1 s doubling to 5 s by default).

While the client is not connected, or when the buffer is full, a signal is
dropped and counted (see Pulse.stats()); lines still buffered when the
connection breaks are dropped and counted too. No signal method raises or
blocks: each returns True when the line was buffered and False when it was
dropped (including for an id, key or value the protocol does not allow).

    import podpulse

    pulse = podpulse.Pulse()                 # $PODPULSE_SOCKET_PATH or the default
    pulse.setup_start()
    pulse.setup_log("loading weights")
    pulse.setup_done("ready")

    with pulse.prediction(pid, model="sdxl") as p:     # or: async with
        ...
        p.set(images=1)                      # attributes sent with the stop

The prediction sends "start", then "stop <id> succeeded" when the block ends,
"failed" when it raises, and "canceled" when it is cancelled
(asyncio.CancelledError), interrupted (KeyboardInterrupt) or, inside a
generator that streams the output, closed early (GeneratorExit). The
exception is never swallowed.

Standard library only; Python 3.9 or later. The protocol is docs/protocol.md.
"""

import asyncio
import atexit
import collections
import os
import re
import select
import socket
import threading
import time
import weakref

__all__ = ["Pulse", "Stats", "DEFAULT_SOCKET_PATH"]

DEFAULT_SOCKET_PATH = "/run/podpulse/podpulse.sock"

# The wire limits of <podpulse/protocol.h>.
ID_MAX = 128
KEY_MAX = 64
ATTRS_MAX = 16

# A connection that lived this long (seconds) resets the backoff; a shorter
# one (a daemon at socket.max_connections accepts and closes) makes it grow,
# so the client never spins on connect and hang-up.
STABLE = 1.0

STOP_STATUSES = ("succeeded", "failed", "canceled", "aborted")
SETUP_STATUSES = ("ready", "succeeded", "failed")

_ID_RE = re.compile(r"[\x21-\x7e]{1,%d}\Z" % ID_MAX)
_KEY_RE = re.compile(r"[a-z0-9_.]{1,%d}\Z" % KEY_MAX)
_VALUE_BAD_RE = re.compile(r"[\x00-\x20\x7f]")

Stats = collections.namedtuple("Stats", "sent dropped reconnects connected")
Stats.__doc__ = """Counters: lines sent, signals dropped, connections made
after the first one, and whether a connection is open now."""


def _attrs(attrs):
    """" k=v" for each attribute, or None when one is not allowed."""
    if len(attrs) > ATTRS_MAX:
        return None
    out = []
    for k, v in attrs.items():
        try:
            v = str(v)
        except Exception:
            return None
        if not _KEY_RE.match(k) or _VALUE_BAD_RE.search(v):
            return None
        out.append(" %s=%s" % (k, v))
    return "".join(out)


# Every live Pulse, so that a forked child (a pre-forking server such as
# gunicorn) gets its own thread and connection instead of the parent's.
_pulses = weakref.WeakSet()


def _after_fork_in_child():
    for pulse in list(_pulses):
        pulse._restart_after_fork()


def _wait(readers, writer, timeout):
    """Wait until a reader is readable or writer writable, or timeout (s).

    poll(), not select(): select() fails on descriptors past 1023, which a
    model server with many open files reaches. Returns (readable sockets,
    writer writable)."""
    p = select.poll()
    masks = {}
    for s in readers:
        masks[s.fileno()] = masks.get(s.fileno(), 0) | select.POLLIN
    if writer is not None:
        masks[writer.fileno()] = masks.get(writer.fileno(), 0) | select.POLLOUT
    for fd, mask in masks.items():
        p.register(fd, mask)
    ms = None if timeout is None else max(0, int(timeout * 1000))
    ready = dict(p.poll(ms))
    readable = [s for s in readers if ready.get(s.fileno(), 0) &
                (select.POLLIN | select.POLLHUP | select.POLLERR)]
    writable = writer is not None and bool(ready.get(writer.fileno(), 0) &
                                           (select.POLLOUT | select.POLLHUP | select.POLLERR))
    return readable, writable


class Pulse:
    """One connection to the podpulse daemon, kept up by a background thread.

    socket_path: the daemon's socket (default: $PODPULSE_SOCKET_PATH, else
    /run/podpulse/podpulse.sock). buffer_size: bytes of unsent lines.
    backoff_min, backoff_max: reconnect delays in seconds. flush_timeout:
    how long close() tries to send what is buffered.
    """

    def __init__(self, socket_path=None, buffer_size=1 << 20, backoff_min=0.1,
                 backoff_max=5.0, flush_timeout=1.0):
        self.socket_path = (socket_path or os.environ.get("PODPULSE_SOCKET_PATH")
                            or DEFAULT_SOCKET_PATH)
        self._max = int(buffer_size)
        self._backoff_min = backoff_min
        self._backoff_max = max(backoff_max, backoff_min)
        self._backoff = backoff_min      # the next delay
        self._retry_at = 0.0             # no connect before (monotonic)
        self._connected_at = 0.0
        self._flush_timeout = flush_timeout
        self._lock = threading.Lock()
        # Under _lock: the lines not yet taken by the thread, the bytes
        # not yet sent (queued and taken), the counters, the flags.
        self._queue = collections.deque()
        self._size = 0
        self._sent = 0
        self._dropped = 0
        self._connects = 0
        self._connected = False
        self._closed = False
        self._woken = False
        self._sock = None          # the thread's alone once it runs
        self._start_thread()
        _pulses.add(self)
        atexit.register(self.close)

    def _start_thread(self):
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._connect()
        self._thread = threading.Thread(target=self._run, name="podpulse-client",
                                        daemon=True)
        self._thread.start()

    def _restart_after_fork(self):
        """In a forked child: the parent's thread is gone; own a new one.

        The child must not write on the parent's connection (its lines would
        interleave with the parent's, and its predictions would belong to
        the parent), so it drops what it inherited and connects anew.
        """
        self._lock = threading.Lock()
        self._queue.clear()
        self._size = 0
        self._connected = False
        self._woken = False
        for s in (self._sock, self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._sock = None
        if not self._closed:
            self._start_thread()

    # -- signals ------------------------------------------------------------

    def enqueue(self, id, **attrs):
        """The prediction waits in the model server's own queue."""
        return self._prediction("enqueue", id, None, attrs)

    def start(self, id, **attrs):
        """The prediction starts running (model=, version=, tenant=, ...)."""
        return self._prediction("start", id, None, attrs)

    def stop(self, id, status="succeeded", **attrs):
        """The prediction ended: succeeded, failed, canceled or aborted."""
        if status not in STOP_STATUSES:
            return self._drop()
        return self._prediction("stop", id, status, attrs)

    def setup_start(self):
        return self._put("setup start\n")

    def setup_log(self, text):
        """Append text to the setup log; one protocol line per line of text."""
        if not isinstance(text, str):
            return self._drop()
        lines = text.split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        ok = True
        for line in lines:
            ok = self._put("setup log %s\n" % line) and ok
        return ok

    def setup_done(self, status="ready"):
        """Setup finished: ready (alias succeeded) or failed."""
        if status not in SETUP_STATUSES:
            return self._drop()
        return self._put("setup done %s\n" % status)

    def prediction(self, id, **attrs):
        """A context manager (with / async with) around one prediction."""
        return _Prediction(self, id, attrs)

    def stats(self):
        with self._lock:
            return Stats(self._sent, self._dropped, max(self._connects - 1, 0),
                         self._connected)

    def close(self):
        """Send what is buffered (up to flush_timeout), then disconnect.

        The daemon aborts the predictions this client left in flight.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(self._flush_timeout + 1.0)
        atexit.unregister(self.close)
        _pulses.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- the callers' side ----------------------------------------------------

    def _prediction(self, verb, id, status, attrs):
        if not isinstance(id, str) or not _ID_RE.match(id):
            return self._drop()
        tail = _attrs(attrs)
        if tail is None:
            return self._drop()
        if status is None:
            return self._put("%s %s%s\n" % (verb, id, tail))
        return self._put("%s %s %s%s\n" % (verb, id, status, tail))

    def _drop(self):
        with self._lock:
            self._dropped += 1
        return False

    def _put(self, line):
        data = line.encode("utf-8", "replace")
        with self._lock:
            if not self._connected or self._closed or self._size + len(data) > self._max:
                self._dropped += 1
                return False
            self._queue.append(data)
            self._size += len(data)
            self._wake()
        return True

    def _wake(self):
        # Under _lock. The socket pair is non-blocking: never waits.
        if self._woken:
            return
        try:
            self._wake_w.send(b"w")
            self._woken = True
        except OSError:
            pass

    # -- the I/O thread -------------------------------------------------------

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(self.socket_path)
        except OSError:
            s.close()
            return False
        self._sock = s
        self._connected_at = time.monotonic()
        with self._lock:
            self._connected = True
            self._connects += 1
        return True

    def _reconnect(self):
        """Connect if it is time; return how long to wait (None: connected)."""
        now = time.monotonic()
        if now < self._retry_at:
            return self._retry_at - now
        if self._connect():
            return None
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_max)
        return self._retry_at - now

    def _disconnect(self, out):
        """The connection is gone: what it did not send is lost, and counted.

        The next attempt waits for the backoff.
        """
        self._sock.close()
        self._sock = None
        now = time.monotonic()
        if now - self._connected_at >= STABLE:
            self._backoff = self._backoff_min
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_max)
        with self._lock:
            self._connected = False
            self._dropped += out.count(b"\n") + len(self._queue)
            self._queue.clear()
            self._size = 0

    def _take(self, out):
        """Under _lock: move queued lines behind what is left to send."""
        if not self._queue:
            return out
        taken = b"".join(self._queue)
        self._queue.clear()
        return out + taken if out else taken

    def _send(self, out):
        try:
            n = self._sock.send(out)
        except (BlockingIOError, InterruptedError):
            return out
        done = out[:n].count(b"\n")
        with self._lock:
            self._sent += done
            self._size -= n
        return out[n:]

    def _hung_up(self):
        try:
            return self._sock.recv(512) == b""
        except (BlockingIOError, InterruptedError):
            return False

    def _run(self):
        out = b""
        deadline = None
        while True:
            with self._lock:
                try:
                    while self._wake_r.recv(64):
                        pass
                except OSError:
                    pass
                self._woken = False
                closed = self._closed
                out = self._take(out)
            timeout = None
            if closed:
                if deadline is None:
                    deadline = time.monotonic() + self._flush_timeout
                if self._sock is None or not out or time.monotonic() >= deadline:
                    break
                timeout = deadline - time.monotonic()
            if self._sock is None:
                timeout = self._reconnect()
            if self._sock is None:
                _wait([self._wake_r], None, timeout)
                continue
            r, w = _wait([self._wake_r, self._sock], self._sock if out else None, timeout)
            try:
                if self._sock in r and self._hung_up():
                    raise ConnectionError("the daemon closed the connection")
                if w:
                    out = self._send(out)
            except OSError:
                self._disconnect(out)
                out = b""
        if self._sock is not None:
            self._disconnect(out)
        self._wake_r.close()
        self._wake_w.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# A cancelled task, an interrupt, and a generator closed before its end (a
# streaming response whose HTTP client went away) cancel the prediction.
_CANCELED = (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit)


class _Prediction:
    """start on entry; stop succeeded / failed / canceled on exit."""

    def __init__(self, pulse, id, attrs):
        self.pulse = pulse
        self.id = id
        self.attrs = attrs
        self.stop_attrs = {}

    def set(self, **attrs):
        """Attributes for the stop line (output_tokens=, error_code=, ...)."""
        self.stop_attrs.update(attrs)

    def __enter__(self):
        self.pulse.start(self.id, **self.attrs)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            status = "succeeded"
        elif issubclass(exc_type, _CANCELED):
            status = "canceled"
        else:
            status = "failed"
        self.pulse.stop(self.id, status, **self.stop_attrs)
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)
