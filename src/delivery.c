/*
 * delivery -- names of report kinds and delivery outcomes; see delivery.h.
 */
#include "delivery.h"

#include <string.h>

static const char *const delivery_kind_names[REPORTER_KINDS] = {
	"instance_state", "setup_run"
};

static const char *const delivery_outcome_names[DELIVERY_OUTCOMES] = {
	"delivered", "retried", "rejected", "dropped"
};

void
delivery_count(struct delivery_counters *c, enum reporter_kind kind,
    enum delivery_outcome outcome)
{
	c->total[kind][outcome]++;
	c->has_last = 1;
	c->last_kind = kind;
	c->last_outcome = outcome;
}

const char *
delivery_kind_name(enum reporter_kind kind)
{
	return delivery_kind_names[kind];
}

const char *
delivery_outcome_name(enum delivery_outcome outcome)
{
	return delivery_outcome_names[outcome];
}

int
delivery_kind_find(const char *name)
{
	int i;

	for (i = 0; i < REPORTER_KINDS; i++)
		if (strcmp(name, delivery_kind_names[i]) == 0)
			return i;
	return -1;
}
