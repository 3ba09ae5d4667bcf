/*
 * The kernel's word on who is at the other end of a Unix domain socket (SO_PEERCRED), for the
 * push daemon: an app's OS user must come from the kernel, never from what the app says. Node has
 * no API for it, hence this N-API addon, built with gcc against Node's own headers
 * (tools/build-native.mjs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
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

/* Builds { uid, gid, name, home } from a passwd entry. */
static napi_value passwd_object(napi_env env, const struct passwd *pw) {
  napi_value out, name, home;
  if (napi_create_object(env, &out) != napi_ok || napi_create_string_utf8(env, pw->pw_name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_string_utf8(env, pw->pw_dir, NAPI_AUTO_LENGTH, &home) != napi_ok ||
      napi_set_named_property(env, out, "name", name) != napi_ok || napi_set_named_property(env, out, "home", home) != napi_ok ||
      set_int(env, out, "uid", pw->pw_uid) || set_int(env, out, "gid", pw->pw_gid)) {
    napi_throw_error(env, NULL, "passwd entry: out of memory");
    return NULL;
  }
  return out;
}

/* Looks a user up by uid (name == NULL) or by name; null when the system has no such user. */
static napi_value lookup_user(napi_env env, uid_t uid, const char *name) {
  struct passwd pw, *found = NULL;
  size_t size = 16384;
  char *buf = NULL;
  int rc;
  for (;;) {
    char *grown = realloc(buf, size);
    if (!grown) {
      free(buf);
      napi_throw_error(env, NULL, "user lookup: out of memory");
      return NULL;
    }
    buf = grown;
    rc = name ? getpwnam_r(name, &pw, buf, size, &found) : getpwuid_r(uid, &pw, buf, size, &found);
    if (rc != ERANGE || size >= (1u << 20)) break;
    size *= 2;
  }
  napi_value out;
  if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
    free(buf);
    return throw_errno(env, name ? "getpwnam_r" : "getpwuid_r", rc);
  }
  if (!found) {
    napi_get_null(env, &out);
  } else {
    out = passwd_object(env, &pw);
  }
  free(buf);
  return out;
}

/* userOf(uid) -> { uid, gid, name, home } or null when the system has no such user (deleted). */
static napi_value user_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t uid;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &uid) != napi_ok || uid < 0 || uid > 0xfffffffe) {
    napi_throw_type_error(env, NULL, "userOf(uid): uid must be a non-negative integer");
    return NULL;
  }
  return lookup_user(env, (uid_t)uid, NULL);
}

/* userNamed(name) -> { uid, gid, name, home } or null. */
static napi_value user_named(napi_env env, napi_callback_info info) {
  size_t argc = 1, len;
  napi_value argv[1];
  char name[256];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len >= sizeof name - 1) {
    napi_throw_type_error(env, NULL, "userNamed(name): name must be a string of 1 to 254 bytes");
    return NULL;
  }
  return lookup_user(env, 0, name);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "peerCredentials", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "userOf", NAPI_AUTO_LENGTH, user_of, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "userOf", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "userNamed", NAPI_AUTO_LENGTH, user_named, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "userNamed", fn) != napi_ok)
    return NULL;
  return exports;
}
