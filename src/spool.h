/*
 * spool -- reports kept on disk until delivered (report.spool_dir).
 *
 * Each report is one file, written before its first send and removed
 * after a 2xx, so a kill -9 loses at most the interval not yet cut. A
 * file is written to a temporary name, fsynced, renamed into place and
 * the directory fsynced: after a crash a file is either whole or absent.
 *
 * Names are a zero-padded counter ("0000000000000042.report"), one more
 * than the largest found at open, so sorting names gives submission
 * order across restarts without trusting the wall clock. A file is a
 * header line, "podpulse-spool 1 <kind> <length> <idempotency-key>\n",
 * then exactly <length> bytes of JSON body. Anything else (truncated,
 * unknown kind, bad JSON) is corrupt: it is moved to corrupt/ and logged,
 * never fatal.
 *
 * The I/O is synchronous: a report is a few KiB and a write is one
 * small file and two fsyncs, rare (once per report interval) and short
 * next to the loop's other work. A spool of many files is read once, at
 * start, before the loop serves anyone.
 */
#ifndef PODPULSE_SPOOL_H
#define PODPULSE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "delivery.h"

struct spool {
	char *dir;
	uint64_t next_id;
};

/* Create dir (and dir/corrupt) if missing, check it is writable. */
int spool_open(struct spool *s, const char *dir, char *err, size_t size);
void spool_close(struct spool *s);

/* Write one report; *path (malloc'd) names its file. 0 or -errno. */
int spool_write(struct spool *s, enum reporter_kind kind, const char *key,
    const char *body, size_t len, char **path);

void spool_remove(const char *path);

typedef void (*spool_load_cb)(void *arg, enum reporter_kind kind,
    const char *key, char *body, size_t len, char *path);

/*
 * Hand every valid spooled report to cb in submission order; cb takes
 * ownership of body and path. Returns the number of reports loaded.
 */
size_t spool_load(struct spool *s, spool_load_cb cb, void *arg);

#endif
