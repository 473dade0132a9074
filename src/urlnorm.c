/*
 * urlnorm -- URL normalisation; see urlnorm.h.
 *
 * The parse follows RFC 3986's split: scheme ":" "//" authority path
 * ["?" query] ["#" fragment]; the authority ends at the first '/', '?' or
 * '#', and its user-info is everything up to the last '@'. Only the
 * shapes a downloader sends are accepted; the rest is "invalid".
 */
#include "urlnorm.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void
urlnorm_invalid(char *url, char *host)
{
	snprintf(url, URLNORM_URL_MAX, "invalid");
	snprintf(host, URLNORM_HOST_MAX, "invalid");
}

static int
urlnorm_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	}
	return 1;
}

/* The scheme's length (up to "://"), or 0. */
static size_t
urlnorm_scheme(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char)s[0]))
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '+' || s[n] == '-' ||
	    s[n] == '.')
		n++;
	if (n > 16 || strncmp(s + n, "://", 3) != 0)
		return 0;
	return n;
}

/* Split host[:port] (host may be [v6]) into the label and the port part. */
static int
urlnorm_host(const char *a, size_t len, char *host, const char **port,
    size_t *portlen)
{
	const char *end = a + len, *h = a, *colon, *p;
	size_t hl;

	if (len > 0 && a[0] == '[') {
		colon = memchr(a, ']', len);
		if (colon == NULL)
			return -1;
		h = a + 1;
		hl = (size_t)(colon - h);
		p = colon + 1;
		if (p < end && *p != ':')
			return -1;
	} else {
		colon = memchr(a, ':', len);
		hl = colon != NULL ? (size_t)(colon - a) : len;
		p = a + hl;
	}
	if (hl == 0 || hl >= URLNORM_HOST_MAX)
		return -1;
	*port = p;
	*portlen = (size_t)(end - p);
	if (*portlen == 1) /* "host:" */
		*portlen = 0;
	if (*portlen > 6) /* ":65535" */
		return -1;
	for (p = *port + 1; p < *port + *portlen; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
	}
	for (p = h; p < h + hl; p++) {
		if (!isalnum((unsigned char)*p) && strchr("-._:%", *p) == NULL)
			return -1;
		host[p - h] = (char)tolower((unsigned char)*p);
	}
	host[hl] = '\0';
	return 0;
}

int
urlnorm(const char *in, char url[URLNORM_URL_MAX], char host[URLNORM_HOST_MAX])
{
	const char *auth, *auth_end, *at, *path, *port;
	size_t slen, plen, portlen, i, n;
	int v6;

	slen = in != NULL ? urlnorm_scheme(in) : 0;
	if (slen == 0 || !urlnorm_printable(in))
		goto invalid;
	auth = in + slen + 3;
	auth_end = auth + strcspn(auth, "/?#");
	for (at = auth_end; at > auth && at[-1] != '@'; at--)
		;
	if (urlnorm_host(at, (size_t)(auth_end - at), host, &port, &portlen) !=
	    0)
		goto invalid;
	path = auth_end;
	plen = strcspn(path, "?#");
	v6 = strchr(host, ':') != NULL;
	n = 0;
	for (i = 0; i < slen; i++)
		url[n++] = (char)tolower((unsigned char)in[i]);
	n += (size_t)snprintf(url + n, URLNORM_URL_MAX - n, "://%s%s%s%.*s",
	    v6 ? "[" : "", host, v6 ? "]" : "", (int)portlen, port);
	if (plen == 0)
		path = "/", plen = 1;
	if (n + plen >= URLNORM_URL_MAX) {
		plen = URLNORM_URL_MAX - n - 4;
		snprintf(url + n, URLNORM_URL_MAX - n, "%.*s...", (int)plen,
		    path);
	} else
		snprintf(url + n, URLNORM_URL_MAX - n, "%.*s", (int)plen, path);
	return 0;
invalid:
	urlnorm_invalid(url, host);
	return -1;
}
