/*
 * intake -- download-metrics envelopes; see intake.h.
 *
 * The field checks of the known type are a table: name, JSON type,
 * required. A source or type that is not a short printable word is kept
 * as "invalid" so that it can never grow a label's cardinality or break
 * a log line.
 */
#include "intake.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "protocol.h"

enum intake_kind { INTAKE_STRING, INTAKE_NUMBER };

static const struct intake_field {
	const char *name;
	enum intake_kind kind;
	int required;
} intake_download_fields[] = {
	{ "url", INTAKE_STRING, 1 },
	{ "size", INTAKE_NUMBER, 0 },
	{ "version", INTAKE_STRING, 0 },
	{ "bytes_per_second", INTAKE_NUMBER, 0 },
	{ "error", INTAKE_STRING, 0 },
};

static void
intake_word(char *out, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0'; i++) {
		if (i + 1 >= INTAKE_NAME_MAX || (unsigned char)in[i] <= 0x20 ||
		    (unsigned char)in[i] >= 0x7f || in[i] == '"' ||
		    in[i] == '\\') {
			snprintf(out, INTAKE_NAME_MAX, "invalid");
			return;
		}
		out[i] = in[i];
	}
	out[i] = '\0';
}

static int
intake_fail(char *why, size_t whylen, const char *msg, const char *field)
{
	snprintf(why, whylen, "%s%s", msg, field != NULL ? field : "");
	return -1;
}

static int
intake_download(const cJSON *data, struct intake_event *ev, char *why,
    size_t whylen)
{
	const struct intake_field *f;
	const cJSON *v;
	size_t i;

	if (!cJSON_IsObject(data))
		return intake_fail(why, whylen, "data must be an object", NULL);
	for (i = 0; i <
	     sizeof intake_download_fields / sizeof intake_download_fields[0];
	     i++) {
		f = &intake_download_fields[i];
		v = cJSON_GetObjectItemCaseSensitive(data, f->name);
		if (v == NULL || cJSON_IsNull(v)) {
			if (f->required)
				return intake_fail(why, whylen,
				    "missing field: data.", f->name);
			continue;
		}
		if (f->kind == INTAKE_STRING ? !cJSON_IsString(v)
					     : !cJSON_IsNumber(v)) {
			snprintf(why, whylen, "data.%s must be a %s", f->name,
			    f->kind == INTAKE_STRING ? "string" : "number");
			return -1;
		}
	}
	urlnorm(cJSON_GetObjectItemCaseSensitive(data, "url")->valuestring,
	    ev->url, ev->host);
	v = cJSON_GetObjectItemCaseSensitive(data, "size");
	if (cJSON_IsNumber(v))
		ev->size = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(data, "bytes_per_second");
	if (cJSON_IsNumber(v))
		ev->bytes_per_second = v->valuedouble;
	ev->failed = cJSON_IsString(
			 cJSON_GetObjectItemCaseSensitive(data, "error")) ||
	    (cJSON_IsNumber(
		 v = cJSON_GetObjectItemCaseSensitive(data, "size")) &&
		v->valuedouble < 0);
	return 0;
}

static int
intake_envelope(const cJSON *root, struct intake_event *ev, char *why,
    size_t whylen)
{
	const cJSON *source, *type;

	if (!cJSON_IsObject(root))
		return intake_fail(why, whylen, "body must be a JSON object",
		    NULL);
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (type == NULL)
		return intake_fail(why, whylen, "missing field: type", NULL);
	if (!cJSON_IsString(type))
		return intake_fail(why, whylen, "type must be a string", NULL);
	source = cJSON_GetObjectItemCaseSensitive(root, "source");
	if (source != NULL && !cJSON_IsString(source))
		return intake_fail(why, whylen, "source must be a string",
		    NULL);
	intake_word(ev->type, type->valuestring);
	if (source != NULL)
		intake_word(ev->source, source->valuestring);
	if (strcmp(type->valuestring, "download") != 0)
		return 0;
	ev->download = 1;
	return intake_download(cJSON_GetObjectItemCaseSensitive(root, "data"),
	    ev, why, whylen);
}

int
intake_parse(const char *body, size_t len, struct intake_event *ev, char *why,
    size_t whylen)
{
	cJSON *root;
	int r;

	memset(ev, 0, sizeof(*ev));
	ev->size = -1;
	ev->bytes_per_second = -1;
	if (!protocol_utf8_valid(body, len))
		return intake_fail(why, whylen, "body is not valid UTF-8",
		    NULL);
	root = cJSON_ParseWithLength(body, len);
	if (root == NULL)
		return intake_fail(why, whylen, "invalid JSON", NULL);
	r = intake_envelope(root, ev, why, whylen);
	cJSON_Delete(root);
	return r;
}
