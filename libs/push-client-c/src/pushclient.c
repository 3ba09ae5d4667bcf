/*
 * libpushclient: the daemon's IPC contract (docs/device.md) in C. Frames are a 4-byte big-endian
 * length and one JSON object; requests carry an id that the daemon's reply echoes.
 */
#include "pushclient.h"
#include "json.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* What the daemon may send (MAX_DAEMON_FRAME_BYTES in libs/push-client/src/ipc.ts). */
#define MAX_FRAME_BYTES (512 * 1024)
#define DEFAULT_SOCKET "/run/borealis-push/daemon.sock"
#define MAX_APPLICATION_ID 128
#define MIN_RECONNECT_MS 200
#define MAX_RECONNECT_MS 5000

struct push_client {
  char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  push_client_callbacks callbacks;
  void *user_data;
  int fd;
  bool ready;
  char application_id[MAX_APPLICATION_ID + 1];
  /* Request ids waiting for a reply (0: none). */
  uint32_t last_id;
  uint32_t set_id;
  uint32_t registrate_id;
  /* registrate() was asked for and not answered: sent (again) on every connect. */
  bool registrate_wanted;
  char *error;
  char *error_message;
  unsigned char *in;
  size_t in_len;
  int64_t reconnect_at_ms;
  int reconnect_delay_ms;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_error(push_client *c, const char *code, const char *message) {
  free(c->error);
  free(c->error_message);
  c->error = code ? strdup(code) : NULL;
  c->error_message = message ? strdup(message) : NULL;
}

static void set_ready(push_client *c, bool ready) {
  if (c->ready == ready) return;
  c->ready = ready;
  if (c->callbacks.push_system_readiness_changed) c->callbacks.push_system_readiness_changed(c, ready, c->user_data);
}

static void fail(push_client *c, const char *code, const char *message) {
  set_error(c, code, message);
  if (c->callbacks.registration_error) c->callbacks.registration_error(c, code, message ? message : "", c->user_data);
}

static void disconnect(push_client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->in_len = 0;
  c->set_id = 0;
  c->registrate_id = 0;
  c->reconnect_at_ms = now_ms() + c->reconnect_delay_ms;
  c->reconnect_delay_ms = c->reconnect_delay_ms * 2 > MAX_RECONNECT_MS ? MAX_RECONNECT_MS : c->reconnect_delay_ms * 2;
  set_ready(c, false);
}

/* Writes one whole frame; a daemon that is gone costs the connection, not the process (no SIGPIPE). */
static int send_frame(push_client *c, const char *json, size_t len) {
  unsigned char header[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
  const unsigned char *parts[2] = {header, (const unsigned char *)json};
  size_t sizes[2] = {4, len};
  int i;
  if (c->fd < 0) return -1;
  for (i = 0; i < 2; i++) {
    size_t done = 0;
    while (done < sizes[i]) {
      ssize_t n = send(c->fd, parts[i] + done, sizes[i] - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        disconnect(c);
        return -1;
      }
      done += (size_t)n;
    }
  }
  return 0;
}

static uint32_t next_id(push_client *c) {
  c->last_id = c->last_id >= 0x7fffffff ? 1 : c->last_id + 1;
  return c->last_id;
}

static void send_set_application_id(push_client *c) {
  /* The id is printable ASCII (checked when set); only '"' and '\' need escaping. */
  char json[64 + 2 * MAX_APPLICATION_ID];
  size_t len;
  const char *p;
  char *w;
  c->set_id = next_id(c);
  len = (size_t)snprintf(json, sizeof json, "{\"id\":%u,\"op\":\"setApplicationId\",\"applicationId\":\"", c->set_id);
  w = json + len;
  for (p = c->application_id; *p; p++) {
    if (*p == '"' || *p == '\\') *w++ = '\\';
    *w++ = *p;
  }
  *w++ = '"';
  *w++ = '}';
  send_frame(c, json, (size_t)(w - json));
}

static void send_registrate(push_client *c) {
  char json[64];
  int len;
  c->registrate_id = next_id(c);
  len = snprintf(json, sizeof json, "{\"id\":%u,\"op\":\"registrate\"}", c->registrate_id);
  send_frame(c, json, (size_t)len);
}

static int try_connect(push_client *c) {
  struct sockaddr_un addr;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, c->socket_path, strlen(c->socket_path) + 1);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    c->reconnect_at_ms = now_ms() + c->reconnect_delay_ms;
    c->reconnect_delay_ms = c->reconnect_delay_ms * 2 > MAX_RECONNECT_MS ? MAX_RECONNECT_MS : c->reconnect_delay_ms * 2;
    return -1;
  }
  c->fd = fd;
  c->reconnect_delay_ms = MIN_RECONNECT_MS;
  /* The daemon knows nothing of this client after a restart: tell it again, in this order. */
  if (c->application_id[0]) send_set_application_id(c);
  if (c->registrate_wanted && c->fd >= 0) send_registrate(c);
  return 0;
}

push_client *push_client_new(const char *socket_path, const push_client_callbacks *callbacks, void *user_data) {
  push_client *c = calloc(1, sizeof *c);
  const char *path = socket_path ? socket_path : getenv("BOREALIS_PUSH_SOCKET");
  if (!c) return NULL;
  if (!path || !*path) path = DEFAULT_SOCKET;
  if (strlen(path) >= sizeof c->socket_path) {
    free(c);
    errno = ENAMETOOLONG;
    return NULL;
  }
  strcpy(c->socket_path, path);
  if (callbacks) c->callbacks = *callbacks;
  c->user_data = user_data;
  c->fd = -1;
  c->in = malloc(4 + MAX_FRAME_BYTES);
  if (!c->in) {
    free(c);
    return NULL;
  }
  c->reconnect_delay_ms = MIN_RECONNECT_MS;
  try_connect(c);
  return c;
}

void push_client_free(push_client *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  free(c->in);
  free(c->error);
  free(c->error_message);
  free(c);
}

int push_client_set_application_id(push_client *c, const char *application_id) {
  size_t i, len;
  if (!c || !application_id) {
    errno = EINVAL;
    return -1;
  }
  len = strlen(application_id);
  if (len == 0 || len > MAX_APPLICATION_ID) {
    errno = EINVAL;
    return -1;
  }
  for (i = 0; i < len; i++) {
    if (application_id[i] < 0x21 || application_id[i] > 0x7e) {
      errno = EINVAL;
      return -1;
    }
  }
  if (strcmp(application_id, c->application_id) == 0) return 0;
  memcpy(c->application_id, application_id, len + 1);
  if (c->fd >= 0) send_set_application_id(c);
  return 0;
}

const char *push_client_application_id(const push_client *c) {
  return c ? c->application_id : "";
}

int push_client_registrate(push_client *c) {
  if (!c || !c->application_id[0]) {
    errno = EINVAL;
    return -1;
  }
  c->registrate_wanted = true;
  if (c->fd >= 0) send_registrate(c);
  return 0;
}

bool push_client_is_push_system_ready(const push_client *c) {
  return c && c->ready;
}

const char *push_client_error(const push_client *c) {
  return c ? c->error : NULL;
}

const char *push_client_error_message(const push_client *c) {
  return c && c->error_message ? c->error_message : "";
}

int push_client_fd(const push_client *c) {
  return c ? c->fd : -1;
}

static void on_notifications(push_client *c, const json_value *list) {
  push_notification *pushes;
  size_t i, n = 0;
  if (!list || list->type != JSON_ARRAY || list->count == 0) return;
  pushes = calloc(list->count, sizeof *pushes);
  if (!pushes) return;
  for (i = 0; i < list->count; i++) {
    const json_value *p = &list->items[i];
    const json_value *sent = json_get(p, "sentAtMs"), *expires = json_get(p, "expiresAtMs");
    push_notification *out = &pushes[n];
    out->id = json_get_string(p, "id");
    out->application_id = json_get_string(p, "applicationId");
    out->title = json_get_string(p, "title");
    out->message = json_get_string(p, "message");
    out->data = json_get_string(p, "data");
    if (!out->id || !out->application_id) continue; /* not a push: skip it rather than hand over NULLs */
    if (!out->title) out->title = "";
    if (!out->message) out->message = "";
    if (!out->data) out->data = "";
    out->sent_at_ms = sent && sent->type == JSON_NUMBER ? (int64_t)sent->number : 0;
    out->expires_at_ms = expires && expires->type == JSON_NUMBER ? (int64_t)expires->number : 0;
    n++;
  }
  if (n > 0 && c->callbacks.notifications) c->callbacks.notifications(c, pushes, n, c->user_data);
  free(pushes);
}

static void on_message(push_client *c, const json_value *m) {
  const json_value *reply = json_get(m, "reply");
  const char *event;
  if (reply && reply->type == JSON_NUMBER) {
    uint32_t id = (uint32_t)reply->number;
    const json_value *ok = json_get(m, "ok");
    const json_value *error = json_get(m, "error");
    bool success = ok && ok->type == JSON_BOOL && ok->boolean;
    const char *code = success ? NULL : json_get_string(error, "code");
    const char *message = success ? NULL : json_get_string(error, "message");
    if (id != 0 && id == c->registrate_id) {
      const char *registration_id = json_get_string(m, "registrationId");
      c->registrate_id = 0;
      c->registrate_wanted = false;
      if (success && registration_id) {
        set_error(c, NULL, NULL);
        if (c->callbacks.registration_id) c->callbacks.registration_id(c, registration_id, c->user_data);
      } else {
        fail(c, code ? code : "protocol", message ? message : "registrate failed");
      }
    } else if (id != 0 && id == c->set_id) {
      c->set_id = 0;
      if (!success) fail(c, code ? code : "protocol", message ? message : "setApplicationId failed");
    }
    return;
  }
  event = json_get_string(m, "event");
  if (!event) return;
  if (strcmp(event, "hello") == 0 || strcmp(event, "readiness") == 0) {
    const json_value *ready = json_get(m, "ready");
    set_ready(c, ready && ready->type == JSON_BOOL && ready->boolean);
  } else if (strcmp(event, "notifications") == 0) {
    on_notifications(c, json_get(m, "pushList"));
  } else if (strcmp(event, "registrationId") == 0) {
    const char *registration_id = json_get_string(m, "registrationId");
    if (registration_id) {
      set_error(c, NULL, NULL);
      if (c->callbacks.registration_id) c->callbacks.registration_id(c, registration_id, c->user_data);
    }
  } else if (strcmp(event, "registrationError") == 0) {
    const json_value *error = json_get(m, "error");
    const char *code = json_get_string(error, "code"), *message = json_get_string(error, "message");
    fail(c, code ? code : "internal", message ? message : "");
  } else if (strcmp(event, "clientInactive") == 0) {
    if (c->callbacks.client_inactive) c->callbacks.client_inactive(c, c->user_data);
  }
  /* Other events (newer daemons, "error" about a frame) need no action here. */
}

/* Takes every complete frame out of the input buffer. */
static int drain_frames(push_client *c) {
  size_t offset = 0;
  while (c->fd >= 0 && c->in_len - offset >= 4) {
    const unsigned char *h = c->in + offset;
    size_t len = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    json_value *m;
    if (len > MAX_FRAME_BYTES) {
      disconnect(c); /* cannot resynchronise */
      return 0;
    }
    if (c->in_len - offset < 4 + len) break;
    m = json_parse((const char *)h + 4, len);
    offset += 4 + len;
    if (m) {
      on_message(c, m);
      json_free(m);
    }
  }
  if (c->fd >= 0 && offset > 0) {
    memmove(c->in, c->in + offset, c->in_len - offset);
    c->in_len -= offset;
  }
  return 0;
}

int push_client_dispatch(push_client *c, int timeout_ms) {
  struct pollfd pfd;
  int rc;
  ssize_t n;
  if (!c) {
    errno = EINVAL;
    return -1;
  }
  if (c->fd < 0) {
    int64_t wait = c->reconnect_at_ms - now_ms();
    if (wait > 0) {
      if (timeout_ms >= 0 && wait > timeout_ms) wait = timeout_ms;
      if (wait > 0) poll(NULL, 0, (int)wait);
    }
    if (now_ms() < c->reconnect_at_ms || try_connect(c) != 0) return 0;
    timeout_ms = 0;
  }
  pfd.fd = c->fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  rc = poll(&pfd, 1, timeout_ms);
  if (rc < 0) return errno == EINTR ? 0 : -1;
  if (rc == 0) return 0;
  n = read(c->fd, c->in + c->in_len, 4 + MAX_FRAME_BYTES - c->in_len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (n <= 0) {
    disconnect(c);
    return 0;
  }
  c->in_len += (size_t)n;
  return drain_frames(c);
}
