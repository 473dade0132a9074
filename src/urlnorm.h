/*
 * urlnorm -- reduce a download URL to what may be logged and labelled
 * (SPEC 6): scheme://host[:port]/path, lower-case scheme and host, with
 * user-info, query string and fragment removed. Presigned S3 URLs
 * (X-Amz-Signature=...), Hugging Face URLs with ?token=... and
 * user:pass@host all carry secrets in exactly those parts, and would make
 * label values unbounded.
 *
 * A pure core. The host (without brackets or port) is the metric label.
 * Anything that is not an absolute URL with a host, or holds bytes that
 * are not printable ASCII, is refused as a whole: nothing of it is shown.
 */
#ifndef PODPULSE_URLNORM_H
#define PODPULSE_URLNORM_H

#include <stddef.h>

#define URLNORM_URL_MAX 1024
#define URLNORM_HOST_MAX 256

/*
 * Returns 0 with url and host filled, or -1 (url and host set to
 * "invalid"). A path that does not fit is cut, and ends in "...".
 */
int urlnorm(const char *in, char url[URLNORM_URL_MAX],
    char host[URLNORM_HOST_MAX]);

#endif
