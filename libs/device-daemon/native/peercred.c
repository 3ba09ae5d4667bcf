/*
 * The kernel's word on who is at the other end of a Unix domain socket (SO_PEERCRED), for the
 * push daemon: an app's OS user must come from the kernel, never from what the app says. Node has
 * no API for it, hence this N-API addon, built with gcc against Node's own headers
 * (tools/build-native.mjs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int set_int(napi_env env, napi_value obj, const char *name, int64_t value) {
  napi_value v;
  if (napi_create_int64(env, value, &v) != napi_ok) return -1;
  return napi_set_named_property(env, obj, name, v) == napi_ok ? 0 : -1;
}

/* peerCredentials(fd) -> { pid, uid, gid } of the process that connected (as of connect()). */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCredentials(fd): fd must be a non-negative integer");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  napi_value out;
  if (napi_create_object(env, &out) != napi_ok || set_int(env, out, "pid", cred.pid) || set_int(env, out, "uid", cred.uid) ||
      set_int(env, out, "gid", cred.gid)) {
    napi_throw_error(env, NULL, "peerCredentials: out of memory");
    return NULL;
  }
  return out;
}

/* userOf(uid) -> { name, gid, home } or null when the system has no such user (deleted). */
static napi_value user_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t uid;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &uid) != napi_ok || uid < 0 || uid > 0xfffffffe) {
    napi_throw_type_error(env, NULL, "userOf(uid): uid must be a non-negative integer");
    return NULL;
  }
  struct passwd pw, *found = NULL;
  size_t size = 16384;
  char *buf = NULL;
  int rc;
  for (;;) {
    char *grown = realloc(buf, size);
    if (!grown) {
      free(buf);
      napi_throw_error(env, NULL, "userOf: out of memory");
      return NULL;
    }
    buf = grown;
    rc = getpwuid_r((uid_t)uid, &pw, buf, size, &found);
    if (rc != ERANGE || size >= (1u << 20)) break;
    size *= 2;
  }
  napi_value out;
  if (rc != 0 && rc != ENOENT && rc != ESRCH) {
    free(buf);
    return throw_errno(env, "getpwuid_r", rc);
  }
  if (!found) {
    free(buf);
    napi_get_null(env, &out);
    return out;
  }
  napi_value name, home;
  int bad = napi_create_object(env, &out) != napi_ok || napi_create_string_utf8(env, pw.pw_name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
            napi_create_string_utf8(env, pw.pw_dir, NAPI_AUTO_LENGTH, &home) != napi_ok ||
            napi_set_named_property(env, out, "name", name) != napi_ok || napi_set_named_property(env, out, "home", home) != napi_ok ||
            set_int(env, out, "gid", pw.pw_gid);
  free(buf);
  if (bad) {
    napi_throw_error(env, NULL, "userOf: out of memory");
    return NULL;
  }
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "peerCredentials", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "userOf", NAPI_AUTO_LENGTH, user_of, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "userOf", fn) != napi_ok)
    return NULL;
  return exports;
}
