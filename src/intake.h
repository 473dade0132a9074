/*
 * intake -- validation of the download-metrics envelopes POSTed to
 * /metrics (SPEC 6), compatible with pget:
 *
 *     {"source": "pget", "type": "download",
 *      "data": {"url": "...", "size": <bytes>, "version": "...",
 *               "bytes_per_second": <number>}}   (or "error": "...")
 *
 * A pure core: bytes in, a verdict and the normalised fields out. A body
 * that is not UTF-8 JSON, has no string `type`, or whose `data` has a
 * field of the wrong type for a known type is refused with a reason that
 * names the field. Unknown sources and types are accepted as they are
 * (the shell counts and logs them). The URL is normalised here (see
 * urlnorm), so the raw one never leaves this module.
 */
#ifndef PODPULSE_INTAKE_H
#define PODPULSE_INTAKE_H

#include <stddef.h>

#include "urlnorm.h"

#define INTAKE_NAME_MAX 64 /* source and type, as labels */

struct intake_event {
	char source[INTAKE_NAME_MAX]; /* "" when absent */
	char type[INTAKE_NAME_MAX];
	int download;		   /* type is "download" */
	char url[URLNORM_URL_MAX]; /* normalised */
	char host[URLNORM_HOST_MAX];
	double size;		 /* -1: unknown or first request failed */
	double bytes_per_second; /* -1: absent */
	int failed;		 /* an "error" field, or size -1 */
};

/*
 * Returns 0 with ev filled, or -1 with why set ("invalid JSON",
 * "missing field: type", "data.size must be a number", ...).
 */
int intake_parse(const char *body, size_t len, struct intake_event *ev,
    char *why, size_t whylen);

#endif
