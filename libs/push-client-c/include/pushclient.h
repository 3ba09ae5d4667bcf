/*
 * libpushclient: the Borealis push client for C and C++ apps on a device.
 *
 * It talks to the device's push daemon (`borealis push-daemon`) over its Unix socket and offers
 * the API of Aurora OS's push client (docs/device.md has both side by side):
 *
 *   Aurora (Qt)                      here
 *   setApplicationId(id)             push_client_set_application_id()
 *   applicationId                    push_client_application_id()
 *   registrate()                     push_client_registrate()
 *   isPushSystemReady                push_client_is_push_system_ready()
 *   error / errorMessage             push_client_error() / push_client_error_message()
 *   signals                          push_client_callbacks, run from push_client_dispatch()
 *
 * Single-threaded: call every function of one client from one thread. Callbacks run inside
 * push_client_dispatch(); the strings and arrays they receive are valid only during the call.
 * The library never writes to stdout/stderr and ignores SIGPIPE per write (MSG_NOSIGNAL).
 */
#ifndef BOREALIS_PUSHCLIENT_H
#define BOREALIS_PUSHCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: only what this header declares is exported. */
#pragma GCC visibility push(default)

/** Version of the daemon's IPC contract this library speaks. */
#define PUSH_CLIENT_IPC_VERSION 1

typedef struct push_client push_client;

/** One notification (Aurora `Push`, plus the message id and times). */
typedef struct {
  const char *id;
  const char *application_id;
  const char *title;
  const char *message;
  /** The app server's data object as JSON text, "" when none. */
  const char *data;
  /** Milliseconds since the Unix epoch. */
  int64_t sent_at_ms;
  int64_t expires_at_ms;
} push_notification;

/** Aurora's signals. Any member may be NULL. */
typedef struct {
  void (*push_system_readiness_changed)(push_client *client, bool ready, void *user_data);
  /** After every successful push_client_registrate(), and when the daemon re-registered with a new id. */
  void (*registration_id)(push_client *client, const char *registration_id, void *user_data);
  /** `code`: invalid_argument, permission_denied, not_found, unavailable, timeout, busy, ... */
  void (*registration_error)(push_client *client, const char *code, const char *message, void *user_data);
  void (*notifications)(push_client *client, const push_notification *push_list, size_t count, void *user_data);
  /** No interaction for the daemon's configured time: an app started in the background should quit. */
  void (*client_inactive)(push_client *client, void *user_data);
} push_client_callbacks;

/**
 * Creates a client of the daemon at `socket_path` (NULL: $BOREALIS_PUSH_SOCKET, else
 * /run/borealis-push/daemon.sock) and connects. A daemon that is not there yet (or restarts
 * later) is reconnected to by push_client_dispatch(). NULL only when out of memory.
 */
push_client *push_client_new(const char *socket_path, const push_client_callbacks *callbacks, void *user_data);

/** Closes the connection and frees the client. NULL is allowed. */
void push_client_free(push_client *client);

/**
 * Only notifications for this application id, of this process's OS user, reach the client; the
 * daemon then hands over those it held while the app was not running. Returns 0, or -1 with errno
 * EINVAL for an id that is not 1 to 128 printable ASCII characters. A refusal by the daemon
 * (permission_denied) arrives through registration_error.
 */
int push_client_set_application_id(push_client *client, const char *application_id);

/** "" until set. */
const char *push_client_application_id(const push_client *client);

/**
 * Aurora registrate(): asks the daemon for this app's registration id. The answer arrives through
 * registration_id or registration_error during push_client_dispatch(); a request made while the
 * daemon is away is sent when it is back. Returns 0, or -1 (errno EINVAL) before an application id.
 */
int push_client_registrate(push_client *client);

bool push_client_is_push_system_ready(const push_client *client);

/** The code of the last failure, NULL after a successful registration (or none yet). */
const char *push_client_error(const push_client *client);

/** The message of the last failure, "" when none. */
const char *push_client_error_message(const push_client *client);

/** The connection's descriptor, for an app's own poll loop (-1 while disconnected). */
int push_client_fd(const push_client *client);

/**
 * Waits up to `timeout_ms` (0: do not wait, -1: forever) for input from the daemon, runs the
 * callbacks for what arrived and reconnects when the daemon went away. Returns 0, or -1 with errno
 * set on a failure of the client itself (EINVAL for a NULL client, ENOMEM).
 */
int push_client_dispatch(push_client *client, int timeout_ms);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
