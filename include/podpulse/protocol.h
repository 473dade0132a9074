/*
 * podpulse/protocol.h -- the wire constants of the podpulse socket
 * protocol, version 1, for the authors of model servers and clients.
 *
 * A client writes text lines ("start <id> [k=v ...]\n") to the Unix
 * socket; docs/protocol.md is the full description. These are the limits
 * the daemon enforces, so that a client can check an id or an attribute
 * before it sends it instead of learning from an "err" reply. The daemon's
 * parser takes its limits from this header, so the two cannot drift.
 */
#ifndef PODPULSE_PUBLIC_PROTOCOL_H
#define PODPULSE_PUBLIC_PROTOCOL_H

/* The version a client names in its optional first line: "hello 1". */
#define PODPULSE_PROTOCOL_VERSION 1

/* A prediction id: 1 to 128 bytes of printable ASCII without spaces. */
#define PODPULSE_ID_MAX 128

/* An attribute key: 1 to 64 of [a-z0-9_.]; at most 16 pairs a line. */
#define PODPULSE_KEY_MAX 64
#define PODPULSE_ATTRS_MAX 16

/*
 * Where the daemon listens unless socket.path says otherwise (the option
 * table of the daemon takes its default from here).
 */
#define PODPULSE_SOCKET_PATH_DEFAULT "/run/podpulse/podpulse.sock"

#endif
