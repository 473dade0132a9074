/*
 * podpulse-loadgen -- throughput and footprint of the daemon's hot path.
 *
 *     podpulse-loadgen PODPULSE_BINARY [PAIRS]
 *
 * Starts a podpulse (socket in a temporary directory, reports to
 * /dev/null) and, as the baseline, a raw sink: a single-threaded process
 * that accepts Unix-socket connections and reads and discards everything.
 * The same bytes -- PAIRS `start pred-0000123` / `stop pred-0000123
 * succeeded` pairs -- go to both, over 1 and over 64 connections, in two
 * styles: one write() per command (what a model server does) and 64 KiB
 * batches (the upper bound of the parser). It prints commands per second
 * for each and the daemon / sink ratio (the median of three rounds).
 *
 * Then the footprint: RSS idle, RSS with 100 000 predictions in flight,
 * and CPU ticks used over 3 s of idleness.
 *
 * Completion: the daemon has processed a connection's commands when it
 * answers a `ping` sent after them; the sink when it has read the expected
 * number of bytes (it then writes one byte to a pipe).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BATCH 65536

static char tmpdir[] = "/tmp/pp-bench-XXXXXX";


static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static int
connect_to(const char *path, int tries)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timespec ts = { 0, 20000000 };
	int fd;

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	for (; tries > 0; tries--) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return fd;
		close(fd);
		nanosleep(&ts, NULL);
	}
	die(path);
	return -1;
}

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

/* The baseline: read and discard until `expect` bytes came, then signal. */
static void
sink_run(const char *path, int done_fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd[MAX_CONNS + 1];
	static char buf[65536];
	uint64_t expect = 0, got = 0;
	int lfd, n, i, nfds = 1;
	ssize_t r;

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    listen(lfd, 128) != 0)
		die("sink bind");
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	/* The expected byte count arrives first on done_fd. */
	if (read(done_fd, &expect, sizeof expect) != sizeof expect)
		die("sink expect");
	for (;;) {
		n = poll(pfd, (nfds_t)nfds, -1);
		if (n < 0)
			continue;
		if ((pfd[0].revents & POLLIN) && nfds <= MAX_CONNS) {
			pfd[nfds].fd = accept(lfd, NULL, NULL);
			pfd[nfds].events = POLLIN;
			nfds++;
		}
		for (i = 1; i < nfds; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(pfd[i].fd, buf, sizeof buf);
			if (r > 0)
				got += (uint64_t)r;
			else {
				close(pfd[i].fd);
				pfd[i] = pfd[--nfds];
				i--;
			}
		}
		if (expect > 0 && got >= expect) {
			write_all(done_fd, "x", 1);
			got = 0;
			if (read(done_fd, &expect, sizeof expect) !=
			    sizeof expect)
				_exit(0);
		}
	}
}

/* The commands of connection c: pairs i with i % conns == c. */
static size_t
build_stream(char **out, uint64_t pairs, int conns, int c, uint64_t base)
{
	size_t cap = (size_t)(pairs / (uint64_t)conns + 1) * 48, len = 0;
	char *p = malloc(cap);
	uint64_t i;

	for (i = (uint64_t)c; i < pairs; i += (uint64_t)conns) {
		len += (size_t)sprintf(p + len, "start pred-%07llu\n",
		    (unsigned long long)(base + i));
		len += (size_t)sprintf(p + len, "stop pred-%07llu succeeded\n",
		    (unsigned long long)(base + i));
	}
	*out = p;
	return len;
}

/* Send each connection's stream, interleaved, per command or batched. */
static void
send_streams(int *fds, char **streams, size_t *lens, int conns, int batched)
{
	size_t off[MAX_CONNS] = { 0 }, n;
	int active = conns, c;
	char *nl;

	while (active > 0) {
		active = 0;
		for (c = 0; c < conns; c++) {
			if (off[c] >= lens[c])
				continue;
			active++;
			if (batched)
				n = lens[c] - off[c] < BATCH ? lens[c] - off[c] :
				    BATCH;
			else {
				nl = memchr(streams[c] + off[c], '\n',
				    lens[c] - off[c]);
				n = (size_t)(nl - (streams[c] + off[c])) + 1;
			}
			write_all(fds[c], streams[c] + off[c], n);
			off[c] += n;
		}
	}
}

static void
await_pong(int fd)
{
	char buf[64];
	ssize_t r;

	write_all(fd, "ping\n", 5);
	r = read(fd, buf, sizeof buf);
	if (r < 5 || memcmp(buf, "pong\n", 5) != 0)
		die("no pong");
}

struct run {
	double daemon_cps;
	double sink_cps;
};

static struct run
measure(const char *dsock, const char *ssock, int done_fd, uint64_t pairs,
    int conns, int batched)
{
	char *streams[MAX_CONNS];
	size_t lens[MAX_CONNS];
	uint64_t total = 0;
	int fds[MAX_CONNS], c;
	double t0, t;
	struct run r;
	char x;

	for (c = 0; c < conns; c++) {
		lens[c] = build_stream(&streams[c], pairs, conns, c, 0);
		total += lens[c];
	}
	/* Daemon. */
	for (c = 0; c < conns; c++)
		fds[c] = connect_to(dsock, 50);
	t0 = now_s();
	send_streams(fds, streams, lens, conns, batched);
	for (c = 0; c < conns; c++)
		await_pong(fds[c]);
	t = now_s() - t0;
	r.daemon_cps = (double)(2 * pairs) / t;
	for (c = 0; c < conns; c++)
		close(fds[c]);
	/* Sink: same bytes. */
	write_all(done_fd, (char *)&total, sizeof total);
	for (c = 0; c < conns; c++)
		fds[c] = connect_to(ssock, 50);
	t0 = now_s();
	send_streams(fds, streams, lens, conns, batched);
	if (read(done_fd, &x, 1) != 1)
		die("sink done");
	t = now_s() - t0;
	r.sink_cps = (double)(2 * pairs) / t;
	for (c = 0; c < conns; c++) {
		close(fds[c]);
		free(streams[c]);
	}
	return r;
}

/*
 * The machine is shared: each configuration runs ROUNDS times, daemon and
 * sink back to back each time, and the round with the median ratio is
 * reported.
 */
#define ROUNDS 3

static struct run
measure_median(const char *dsock, const char *ssock, int done_fd,
    uint64_t pairs, int conns, int batched)
{
	struct run runs[ROUNDS], t;
	int i, j;

	for (i = 0; i < ROUNDS; i++) {
		runs[i] = measure(dsock, ssock, done_fd, pairs, conns, batched);
		for (j = i; j > 0 && runs[j].daemon_cps / runs[j].sink_cps <
		    runs[j - 1].daemon_cps / runs[j - 1].sink_cps; j--) {
			t = runs[j];
			runs[j] = runs[j - 1];
			runs[j - 1] = t;
		}
	}
	return runs[ROUNDS / 2];
}

/* A "Name: N kB" line of /proc/PID/status, in KiB; -1 when absent. */
static long
status_kib(pid_t pid, const char *name)
{
	char path[64], line[256];
	size_t n = strlen(name);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long
rss_kib(pid_t pid)
{
	return status_kib(pid, "VmRSS");
}

static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL || fgets(buf, sizeof buf, f) == NULL)
		die("stat");
	fclose(f);
	p = strrchr(buf, ')');
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		die("stat parse");
	return (long)(ut + st);
}

static pid_t
start_daemon(const char *bin, const char *dsock)
{
	char ini[256], opt[300];
	pid_t pid;
	FILE *f;
	int null;

	snprintf(ini, sizeof ini, "%s/bench.ini", tmpdir);
	f = fopen(ini, "w");
	/* No HTTP endpoint: the run measures the socket path, and must not
	 * fail because something else holds port 9464. */
	fprintf(f, "[socket]\npath = %s\n[monitor]\nreport_interval = 15s\n"
	    "[agent]\nlog_level = warn\n[http]\nlisten =\n", dsock);
	fclose(f);
	snprintf(opt, sizeof opt, "%s", ini);
	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(bin, bin, "-c", opt, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
footprint(pid_t pid, const char *dsock)
{
	struct timespec idle = { 3, 0 };
	long rss_idle, rss_full, anon_idle, anon_full, t0, t1;
	const uint64_t n = 100000;
	char *stream, *nl;
	size_t len = 0, half;
	uint64_t i;
	int fd;

	rss_idle = rss_kib(pid);
	anon_idle = status_kib(pid, "RssAnon");
	stream = malloc(n * 24);
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(stream + len, "start pred-%07llu\n",
		    (unsigned long long)(9000000 + i));
	fd = connect_to(dsock, 50);
	write_all(fd, "hello 1\n", 8);
	half = len / 2;
	nl = memchr(stream + half, '\n', len - half);
	write_all(fd, stream, (size_t)(nl - stream) + 1);
	write_all(fd, nl + 1, len - (size_t)(nl - stream) - 1);
	await_pong(fd);
	rss_full = rss_kib(pid);
	anon_full = status_kib(pid, "RssAnon");
	t0 = cpu_ticks(pid);
	nanosleep(&idle, NULL);
	t1 = cpu_ticks(pid);
	printf("\nfootprint\n");
	printf("  RSS idle                      %6ld KiB  (target <= 8192)  %s\n",
	    rss_idle, rss_idle <= 8192 ? "met" : "MISSED");
	printf("  RSS, 100000 in flight         %6ld KiB  (target <= 40960) %s\n",
	    rss_full, rss_full <= 40960 ? "met" : "MISSED");
	/*
	 * VmRSS counts the pages of shared libraries touched at start
	 * (OpenSSL through libcurl, GnuTLS through libmicrohttpd); RssAnon
	 * is the daemon's own memory.
	 */
	printf("  of which anonymous (own)       %6ld KiB idle, %ld KiB with "
	    "100000 in flight\n", anon_idle, anon_full);
	printf("  CPU ticks over 3 s idle       %6ld      (target 0)        %s\n",
	    t1 - t0, t1 - t0 == 0 ? "met" : "MISSED");
	close(fd);
	free(stream);
}

int
main(int argc, char **argv)
{
	char dsock[96], ssock[96];
	uint64_t pairs = argc > 2 ? strtoull(argv[2], NULL, 10) : 500000;
	int conns[] = { 1, 64 }, sp[2], i, b;
	struct run r;
	pid_t daemon, sink;

	if (argc < 2) {
		fprintf(stderr, "usage: podpulse-loadgen PODPULSE [PAIRS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	snprintf(dsock, sizeof dsock, "%s/podpulse.sock", tmpdir);
	snprintf(ssock, sizeof ssock, "%s/sink.sock", tmpdir);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
		die("socketpair");
	sink = fork();
	if (sink == 0) {
		close(sp[0]);
		sink_run(ssock, sp[1]);
		_exit(0);
	}
	close(sp[1]);
	daemon = start_daemon(argv[1], dsock);
	close(connect_to(dsock, 250));

	printf("podpulse-loadgen: %llu start/stop pairs per run "
	    "(%llu commands), median of %d rounds\n\n", (unsigned long long)pairs,
	    (unsigned long long)(2 * pairs), ROUNDS);
	printf("  %-6s %-12s %14s %14s %8s\n", "conns", "writes",
	    "podpulse cmd/s", "raw sink cmd/s", "ratio");
	for (b = 0; b < 2; b++) {
		for (i = 0; i < 2; i++) {
			r = measure_median(dsock, ssock, sp[0], pairs,
			    conns[i], b);
			printf("  %-6d %-12s %14.0f %14.0f %8.2f\n", conns[i],
			    b ? "64KiB batch" : "per command", r.daemon_cps,
			    r.sink_cps, r.daemon_cps / r.sink_cps);
		}
	}
	footprint(daemon, dsock);
	kill(daemon, SIGTERM);
	waitpid(daemon, NULL, 0);
	close(sp[0]);
	kill(sink, SIGTERM);
	waitpid(sink, NULL, 0);
	unlink(ssock);
	snprintf(dsock, sizeof dsock, "%s/bench.ini", tmpdir);
	unlink(dsock);
	rmdir(tmpdir);
	return 0;
}
