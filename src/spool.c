/*
 * spool -- reports kept on disk until delivered; see spool.h.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "xmalloc.h"

#define SPOOL_MAGIC "podpulse-spool 1 "
#define SPOOL_SUFFIX ".report"
#define SPOOL_MAX_FILE (64u * 1024 * 1024)

/* mkdir -p: every missing parent is created too. */
static int
spool_mkdir(const char *path)
{
	char *p, *slash;
	int r = 0;

	p = xstrdup(path);
	for (slash = strchr(p + 1, '/'); r == 0 && slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			r = -errno;
		*slash = '/';
	}
	if (r == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
		r = -errno;
	free(p);
	return r;
}

static int
spool_fsync_dir(const char *dir)
{
	int fd, r = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) != 0)
		r = -errno;
	close(fd);
	return r;
}

/* The counter of a name like "0000000000000042.report", or -1. */
static int
spool_name_id(const char *name, uint64_t *id)
{
	char *end;
	size_t n = strlen(name);

	if (n != 16 + strlen(SPOOL_SUFFIX) ||
	    strcmp(name + 16, SPOOL_SUFFIX) != 0)
		return -1;
	*id = strtoull(name, &end, 10);
	return end == name + 16 ? 0 : -1;
}

int
spool_open(struct spool *s, const char *dir, char *err, size_t size)
{
	char *corrupt;
	int r;

	memset(s, 0, sizeof(*s));
	/* Readable too: a spool that cannot be listed would number new
	 * files from 1 again, over the reports already in it. */
	xasprintf(&corrupt, "%s/corrupt", dir);
	if ((r = spool_mkdir(dir)) != 0 || (r = spool_mkdir(corrupt)) != 0 ||
	    (access(dir, R_OK | W_OK | X_OK) != 0 && (r = -errno) != 0)) {
		snprintf(err, size, "cannot use spool directory %s: %s", dir,
		    strerror(-r));
		free(corrupt);
		return r;
	}
	free(corrupt);
	s->dir = xstrdup(dir);
	s->next_id = 1;
	return 0;
}

void
spool_close(struct spool *s)
{
	free(s->dir);
	s->dir = NULL;
}

static int
spool_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
spool_write(struct spool *s, enum reporter_kind kind, const char *key,
    const char *body, size_t len, char **path)
{
	char *tmp, *final, *head;
	int fd, r;

	xasprintf(&final, "%s/%016" PRIu64 SPOOL_SUFFIX, s->dir, s->next_id);
	xasprintf(&tmp, "%s/.tmp-%016" PRIu64, s->dir, s->next_id);
	xasprintf(&head, SPOOL_MAGIC "%s %zu %s\n", delivery_kind_name(kind),
	    len, key);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	r = fd < 0 ? -errno : 0;
	if (r == 0 && (r = spool_write_all(fd, head, strlen(head))) == 0 &&
	    (r = spool_write_all(fd, body, len)) == 0 && fsync(fd) != 0)
		r = -errno;
	if (fd >= 0 && close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, final) != 0)
		r = -errno;
	/*
	 * Once renamed, the file is there and must be tracked (and removed
	 * after delivery) even if the directory's fsync fails: that only
	 * weakens the guarantee against a power cut, so it is said, not
	 * failed.
	 */
	if (r == 0 && (r = spool_fsync_dir(s->dir)) != 0) {
		log_warn("cannot fsync the spool directory", "path", s->dir,
		    "error", strerror(-r));
		r = 0;
	}
	free(head);
	if (r != 0) {
		unlink(tmp);
		free(tmp);
		free(final);
		return r;
	}
	free(tmp);
	s->next_id++;
	*path = final;
	return 0;
}

void
spool_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("cannot remove a delivered report from the spool",
		    "path", path, "error", strerror(errno));
}

static char *
spool_read(const char *path, size_t *len)
{
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	buf = xmalloc(SPOOL_MAX_FILE + 1);
	n = fread(buf, 1, SPOOL_MAX_FILE + 1, f);
	fclose(f);
	if (n > SPOOL_MAX_FILE) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Parse one file; 0 with kind, key, body set, or -1 (corrupt). */
static int
spool_parse(char *text, size_t n, int *kind, char **key, char **body,
    size_t *blen)
{
	char kname[32], keybuf[256], *nl;
	size_t len;
	int used = 0;
	cJSON *json;

	if ((nl = memchr(text, '\n', n)) == NULL ||
	    strncmp(text, SPOOL_MAGIC, strlen(SPOOL_MAGIC)) != 0)
		return -1;
	*nl = '\0';
	if (sscanf(text + strlen(SPOOL_MAGIC), "%31s %zu %255s%n", kname, &len,
	    keybuf, &used) != 3 || text[strlen(SPOOL_MAGIC) + used] != '\0')
		return -1;
	if ((*kind = delivery_kind_find(kname)) < 0 ||
	    (size_t)(text + n - (nl + 1)) != len)
		return -1;
	if ((json = cJSON_ParseWithLength(nl + 1, len)) == NULL)
		return -1;
	cJSON_Delete(json);
	*key = xstrdup(keybuf);
	*body = xmalloc(len + 1);
	memcpy(*body, nl + 1, len);
	(*body)[len] = '\0';
	*blen = len;
	return 0;
}

static void
spool_move_corrupt(struct spool *s, const char *name)
{
	char *from, *to;

	xasprintf(&from, "%s/%s", s->dir, name);
	xasprintf(&to, "%s/corrupt/%s", s->dir, name);
	if (rename(from, to) != 0)
		log_error("cannot move a corrupt spool file aside", "path",
		    from, "error", strerror(errno));
	else
		log_error("corrupt spool file moved aside", "path", to);
	free(from);
	free(to);
}

static int
spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spooled names, sorted; leftovers of an interrupted write removed. */
static char **
spool_list(struct spool *s, size_t *count)
{
	DIR *dir;
	struct dirent *de;
	char **names = NULL, *p;
	size_t n = 0, cap = 0;
	uint64_t id;

	*count = 0;
	if ((dir = opendir(s->dir)) == NULL)
		return NULL;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			xasprintf(&p, "%s/%s", s->dir, de->d_name);
			unlink(p);
			free(p);
			continue;
		}
		if (spool_name_id(de->d_name, &id) != 0)
			continue;
		if (id >= s->next_id)
			s->next_id = id + 1;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (n > 0)
		qsort(names, n, sizeof(*names), spool_name_cmp);
	*count = n;
	return names;
}

size_t
spool_load(struct spool *s, spool_load_cb cb, void *arg)
{
	char **names, *path, *text, *key, *body;
	size_t count, i, n, blen, loaded = 0;
	int kind;

	names = spool_list(s, &count);
	for (i = 0; i < count; i++) {
		xasprintf(&path, "%s/%s", s->dir, names[i]);
		text = spool_read(path, &n);
		if (text == NULL || spool_parse(text, n, &kind, &key, &body,
		    &blen) != 0) {
			spool_move_corrupt(s, names[i]);
			free(path);
		} else {
			cb(arg, (enum reporter_kind)kind, key, body, blen,
			    path);
			free(key);
			loaded++;
		}
		free(text);
		free(names[i]);
	}
	free(names);
	return loaded;
}
