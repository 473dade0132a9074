/*
 * status -- the named enumerations every module shares: instance states,
 * prediction outcomes and setup outcomes.
 *
 * Each list is one X-macro, so an enum and its string table cannot drift
 * apart. The strings are part of the external contract (SPEC sections 1-3):
 * they appear in reports, replies and metric labels.
 */
#ifndef PODPULSE_STATUS_H
#define PODPULSE_STATUS_H

#include <stddef.h>

/* Instance activity state (SPEC 1). */
#define STATUS_STATE_LIST(X) \
	X(BOOT, "boot") \
	X(IDLE, "idle") \
	X(ACTIVE, "active")

enum status_state {
#define X(e, s) STATUS_STATE_##e,
	STATUS_STATE_LIST(X)
#undef X
	STATUS_STATE_COUNT
};

/* How a prediction ended (SPEC 2, `stop <id> <status>`). */
#define STATUS_PREDICTION_LIST(X) \
	X(SUCCEEDED, "succeeded") \
	X(FAILED, "failed") \
	X(CANCELED, "canceled") \
	X(ABORTED, "aborted")

enum status_prediction {
#define X(e, s) STATUS_PREDICTION_##e,
	STATUS_PREDICTION_LIST(X)
#undef X
	STATUS_PREDICTION_COUNT
};

/* Setup progress (SPEC 2 and 3). RUNNING is the initial value. */
#define STATUS_SETUP_LIST(X) \
	X(RUNNING, "running") \
	X(READY, "ready") \
	X(FAILED, "failed") \
	X(TIMEOUT, "timeout")

enum status_setup {
#define X(e, s) STATUS_SETUP_##e,
	STATUS_SETUP_LIST(X)
#undef X
	STATUS_SETUP_COUNT
};

const char *status_state_name(enum status_state state);
const char *status_prediction_name(enum status_prediction status);
const char *status_setup_name(enum status_setup status);

/*
 * Parse a prediction status (case-insensitive, exact length). Returns the
 * status, or -1 when the word is not one of the allowed set.
 */
int status_prediction_parse(const char *word, size_t len);

/*
 * Parse the status of `setup done`: "ready" (alias "succeeded") or
 * "failed", case-insensitive. Returns STATUS_SETUP_READY,
 * STATUS_SETUP_FAILED, or -1.
 */
int status_setup_parse(const char *word, size_t len);

#endif
