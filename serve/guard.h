/*
 * guard.h — the header deadline of the HTTP API. Private to serve/.
 *
 * libmicrohttpd 0.9.7x has no whole-request timeout: its connection
 * timeout (MHD_OPTION_CONNECTION_TIMEOUT, and MHD_set_connection_option's
 * MHD_CONNECTION_OPTION_TIMEOUT) restarts at every byte received, so a
 * client that sends one header line every few seconds holds a connection
 * for ever. The guard builds the deadline from what 0.9.7x does offer:
 *   - MHD_OPTION_NOTIFY_CONNECTION tells when a connection starts (the
 *     guard records its socket and the time) and when it is closed (the
 *     guard forgets it, before libmicrohttpd closes the socket, so the
 *     guard never touches a descriptor number reused by another connection);
 *   - the access handler's first call for a request means its headers are
 *     complete (guard_headers_complete);
 *   - MHD_OPTION_NOTIFY_COMPLETED ends a request: the next one on a kept-
 *     alive connection has the deadline again, from that moment.
 * A thread of the guard looks every half second for connections still
 * waiting for headers header_timeout_s after they started, and shuts their
 * socket down (shutdown(2), not close): libmicrohttpd's own thread then
 * reads the end of the stream and closes the connection as if the client
 * had. Only the headers have the deadline; a request body (a future upload)
 * is bounded by the idle timeout alone.
 */
#ifndef CSCFLOW_SERVE_GUARD_H
#define CSCFLOW_SERVE_GUARD_H

#include <microhttpd.h>

struct guard;

/* Starts the guard's thread. CSC_ENOMEM, CSC_EIO (no thread). */
int guard_start(unsigned header_timeout_s, struct guard **out);
/* After MHD_stop_daemon: every connection is closed by then. */
void guard_stop(struct guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION, with the guard as cls. */
void guard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                             enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_NOTIFY_COMPLETED, with the guard as cls. */
void guard_request_completed(void *cls, struct MHD_Connection *c, void **req,
                             enum MHD_RequestTerminationCode toe);
/* The request on c has its headers: no deadline until it completes. */
void guard_headers_complete(struct guard *g, struct MHD_Connection *c);

#endif
