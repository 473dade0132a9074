/*
 * status -- names of the shared enumerations; see status.h.
 */
#include "status.h"


static const char *const status_state_names[] = {
#define X(e, s) s,
	STATUS_STATE_LIST(X)
#undef X
};

static const char *const status_prediction_names[] = {
#define X(e, s) s,
	STATUS_PREDICTION_LIST(X)
#undef X
};

static const char *const status_setup_names[] = {
#define X(e, s) s,
	STATUS_SETUP_LIST(X)
#undef X
};

const char *
status_state_name(enum status_state state)
{
	if ((unsigned)state >= STATUS_STATE_COUNT)
		return "unknown";
	return status_state_names[state];
}

const char *
status_prediction_name(enum status_prediction status)
{
	if ((unsigned)status >= STATUS_PREDICTION_COUNT)
		return "unknown";
	return status_prediction_names[status];
}

const char *
status_setup_name(enum status_setup status)
{
	if ((unsigned)status >= STATUS_SETUP_COUNT)
		return "unknown";
	return status_setup_names[status];
}

static int
status_word_is(const char *word, size_t len, const char *name)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (name[i] == '\0')
			return 0;
		if ((word[i] | 0x20) != name[i])
			return 0;
	}
	return name[len] == '\0';
}

int
status_prediction_parse(const char *word, size_t len)
{
	int i;

	for (i = 0; i < STATUS_PREDICTION_COUNT; i++) {
		if (status_word_is(word, len, status_prediction_names[i]))
			return i;
	}
	return -1;
}

int
status_setup_parse(const char *word, size_t len)
{
	if (status_word_is(word, len, "ready") ||
	    status_word_is(word, len, "succeeded"))
		return STATUS_SETUP_READY;
	if (status_word_is(word, len, "failed"))
		return STATUS_SETUP_FAILED;
	return -1;
}
