#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

typedef struct {
  const char *p;
  const char *end;
} reader;

static void skip_space(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static void clear(json_value *v) {
  size_t i;
  if (v->type == JSON_STRING) free(v->string);
  if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
    for (i = 0; i < v->count; i++) {
      clear(&v->items[i]);
      if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
  }
  memset(v, 0, sizeof *v);
}

static int hex4(reader *r, unsigned *out) {
  unsigned v = 0;
  int i;
  if (r->end - r->p < 4) return -1;
  for (i = 0; i < 4; i++) {
    char c = *r->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Decodes a string (r->p after the opening quote) into a new NUL-terminated buffer. */
static char *parse_string(reader *r) {
  /* The decoded text is never longer than the encoded one. */
  const char *start = r->p;
  size_t cap;
  char *out, *w;
  while (start < r->end && *start != '"') {
    if (*start == '\\' && start + 1 < r->end) start++;
    start++;
  }
  cap = (size_t)(start - r->p) + 1;
  out = malloc(cap);
  if (!out) return NULL;
  w = out;
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p++;
    if (c == '"') {
      *w = '\0';
      return out;
    }
    if (c < 0x20) break;
    if (c != '\\') {
      *w++ = (char)c;
      continue;
    }
    if (r->p >= r->end) break;
    c = (unsigned char)*r->p++;
    switch (c) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        unsigned cp, low;
        if (hex4(r, &cp)) goto fail;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u') goto fail;
          r->p += 2;
          if (hex4(r, &low) || low < 0xdc00 || low > 0xdfff) goto fail;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          goto fail;
        }
        if (cp == 0) goto fail; /* would cut the C string */
        /* \uXXXX is 6 bytes of input and at most 4 of output; a pair is 12 and 4. */
        if (cp < 0x80) {
          *w++ = (char)cp;
        } else if (cp < 0x800) {
          *w++ = (char)(0xc0 | (cp >> 6));
          *w++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
          *w++ = (char)(0xe0 | (cp >> 12));
          *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
          *w++ = (char)(0x80 | (cp & 0x3f));
        } else {
          *w++ = (char)(0xf0 | (cp >> 18));
          *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
          *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
          *w++ = (char)(0x80 | (cp & 0x3f));
        }
        break;
      }
      default:
        goto fail;
    }
  }
fail:
  free(out);
  return NULL;
}

static int parse_value(reader *r, json_value *v, int depth);

static int append(json_value *v, size_t *cap, char *key) {
  if (v->count == *cap) {
    size_t next = *cap ? *cap * 2 : 4;
    json_value *items = realloc(v->items, next * sizeof *items);
    if (!items) return -1;
    v->items = items;
    if (v->type == JSON_OBJECT) {
      char **keys = realloc(v->keys, next * sizeof *keys);
      if (!keys) return -1;
      v->keys = keys;
    }
    *cap = next;
  }
  memset(&v->items[v->count], 0, sizeof v->items[0]);
  if (v->type == JSON_OBJECT) v->keys[v->count] = key;
  v->count++;
  return 0;
}

static int parse_container(reader *r, json_value *v, int depth, char close) {
  size_t cap = 0;
  skip_space(r);
  if (r->p < r->end && *r->p == close) {
    r->p++;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    skip_space(r);
    if (v->type == JSON_OBJECT) {
      if (r->p >= r->end || *r->p != '"') return -1;
      r->p++;
      key = parse_string(r);
      if (!key) return -1;
      skip_space(r);
      if (r->p >= r->end || *r->p != ':') {
        free(key);
        return -1;
      }
      r->p++;
    }
    if (append(v, &cap, key)) {
      free(key);
      return -1;
    }
    if (parse_value(r, &v->items[v->count - 1], depth + 1)) return -1;
    skip_space(r);
    if (r->p >= r->end) return -1;
    if (*r->p == ',') {
      r->p++;
      continue;
    }
    if (*r->p == close) {
      r->p++;
      return 0;
    }
    return -1;
  }
}

static int literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return -1;
  r->p += n;
  return 0;
}

static int parse_number(reader *r, json_value *v) {
  char buf[64];
  size_t n = 0;
  char *endp;
  while (r->p + n < r->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", r->p[n])) n++;
  if (n == 0 || n == sizeof buf - 1) return -1;
  memcpy(buf, r->p, n);
  buf[n] = '\0';
  v->number = strtod(buf, &endp);
  if (endp != buf + n) return -1;
  r->p += n;
  v->type = JSON_NUMBER;
  return 0;
}

static int parse_value(reader *r, json_value *v, int depth) {
  if (depth > MAX_DEPTH) return -1;
  skip_space(r);
  if (r->p >= r->end) return -1;
  switch (*r->p) {
    case '{':
      r->p++;
      v->type = JSON_OBJECT;
      return parse_container(r, v, depth, '}');
    case '[':
      r->p++;
      v->type = JSON_ARRAY;
      return parse_container(r, v, depth, ']');
    case '"':
      r->p++;
      v->string = parse_string(r);
      if (!v->string) return -1;
      v->type = JSON_STRING;
      return 0;
    case 't':
      v->type = JSON_BOOL;
      v->boolean = true;
      return literal(r, "true");
    case 'f':
      v->type = JSON_BOOL;
      return literal(r, "false");
    case 'n':
      v->type = JSON_NULL;
      return literal(r, "null");
    default:
      return parse_number(r, v);
  }
}

json_value *json_parse(const char *text, size_t len) {
  reader r = {text, text + len};
  json_value *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  if (parse_value(&r, v, 0)) {
    json_free(v);
    return NULL;
  }
  skip_space(&r);
  if (r.p != r.end) {
    json_free(v);
    return NULL;
  }
  return v;
}

void json_free(json_value *value) {
  if (!value) return;
  clear(value);
  free(value);
}

const json_value *json_get(const json_value *value, const char *key) {
  size_t i;
  if (!value || value->type != JSON_OBJECT) return NULL;
  for (i = 0; i < value->count; i++)
    if (strcmp(value->keys[i], key) == 0) return &value->items[i];
  return NULL;
}

const char *json_get_string(const json_value *value, const char *key) {
  const json_value *member = json_get(value, key);
  return member && member->type == JSON_STRING ? member->string : NULL;
}
