/*
 * main -- the podpulse command line.
 *
 *     podpulse [-c FILE] [-o section.key=value ...] [--check-config]
 *
 * Exit status: 0 clean shutdown, 1 fatal run-time error, 2 usage or
 * configuration error (SPEC 7).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "xmalloc.h"

extern char **environ;

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: podpulse [-c FILE] [-o SECTION.KEY=VALUE ...] "
	    "[--check-config]\n"
	    "\n"
	    "  -c, --config FILE     configuration file (default %s;\n"
	    "                        a missing default file means defaults)\n"
	    "  -o, --set S.K=VALUE   override one key (repeatable; beats the\n"
	    "                        file and the environment)\n"
	    "      --check-config    validate, print the effective "
	    "configuration\n"
	    "                        (secrets as ***) and exit\n"
	    "      --config-reference  print the key reference of\n"
	    "                        docs/configuration.md (Markdown) and exit\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Every key can also be set by the environment variable\n"
	    "PODPULSE_<SECTION>_<KEY>. Signals: SIGTERM/SIGINT shut down\n"
	    "cleanly, SIGHUP reloads the configuration.\n",
	    DAEMON_DEFAULT_CONFIG);
}

/* The key reference that docs/configuration.md embeds. */
static int
main_config_reference(void)
{
	char *text;

	text = config_reference();
	fputs(text, stdout);
	free(text);
	return 0;
}

/* Parse argv into args; returns -1 to go on, or the exit status. */
static int
main_args_parse(int argc, char **argv, struct daemon_args *args,
    const char **overrides, int *check)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "config-reference", no_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, noverrides = 0;

	while ((ch = getopt_long(argc, argv, "c:o:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			args->config_path = optarg;
			args->config_explicit = 1;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 'C':
			*check = 1;
			break;
		case 'V':
			printf("podpulse %s\n", PODPULSE_VERSION);
			return 0;
		case 'R':
			return main_config_reference();
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "podpulse: unexpected argument \"%s\"\n",
		    argv[optind]);
		main_usage(stderr);
		return 2;
	}
	return -1;
}

static int
main_check_config(struct config *cfg)
{
	char *text;

	text = config_format(cfg);
	fputs(text, stdout);
	free(text);
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct config_error err;
	struct config cfg;
	const char **overrides;
	int check = 0, status;

	memset(&args, 0, sizeof args);
	overrides = xcalloc((size_t)argc + 1, sizeof(*overrides));
	status = main_args_parse(argc, argv, &args, overrides, &check);
	if (status >= 0)
		goto out;
	args.overrides = overrides;
	args.envp = environ;
	if (daemon_config_load(&args, &cfg, &err) != 0) {
		fprintf(stderr, "podpulse: %s\n", err.msg);
		config_free(&cfg);
		status = 2;
	} else if (check) {
		status = main_check_config(&cfg);
		config_free(&cfg);
	} else
		status = daemon_run(&args, &cfg);
out:
	free(overrides);
	return status;
}
