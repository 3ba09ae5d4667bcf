/* A small JSON reader for the daemon's messages (objects of strings, numbers, booleans, arrays). */
#ifndef BOREALIS_PUSHCLIENT_JSON_H
#define BOREALIS_PUSHCLIENT_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  bool boolean;
  double number;
  /* JSON_STRING: NUL-terminated UTF-8 (strings holding \u0000 are refused). */
  char *string;
  /* JSON_ARRAY and JSON_OBJECT: `count` items; JSON_OBJECT also has `keys`. */
  size_t count;
  struct json_value *items;
  char **keys;
} json_value;

/** Parses `len` bytes; NULL on malformed input, nesting deeper than 32, or out of memory. */
json_value *json_parse(const char *text, size_t len);
void json_free(json_value *value);

/** The member `key` of an object, NULL when absent or `value` is not an object. */
const json_value *json_get(const json_value *value, const char *key);
/** The member's string, or NULL when absent or not a string. */
const char *json_get_string(const json_value *value, const char *key);

#endif
