/*
 * edgefn.h - single-header C SDK for edgefn guest ABI v1 (see docs/abi.md).
 *
 * Build a guest as a WASI reactor with zig's wasi-libc, e.g.
 *
 *   python -m ziglang cc --target=wasm32-wasi -O2 -s -mexec-model=reactor \
 *       -Wl,-z,stack-size=65536 -I functions/sdk hello.c -o hello.wasm
 *
 * (or edgehost.guestbuild.build_c). Leave --initial-memory unset: zig's malloc
 * only grows memory and never uses the initial pages past the data, so a large
 * initial memory is wasted and eats into the function's memory_pages.
 *
 * A guest writes one handler and names it with EDGEFN_HANDLER, which generates
 * the exports the ABI requires (edgefn_alloc, edgefn_free and `handle`):
 *
 *   #include "edgefn.h"
 *
 *   static edgefn_response *hello(const edgefn_request *req) {
 *       (void)req;
 *       return edgefn_text(200, "Hello from C\n");
 *   }
 *   EDGEFN_HANDLER(hello)
 *
 * Memory: edgefn_alloc/edgefn_free are malloc/free. The generated entrypoint
 * frees the request buffer and the parsed request once the handler returns, and
 * the host frees the encoded response through edgefn_free, so a hot instance
 * does not leak between requests.
 *
 * Strings the SDK hands out (method, uri, header names and values, bodies) are
 * NUL-terminated copies, with their byte length alongside for binary data.
 * Everything in this header is static, so unused helpers (and the host imports
 * they would pull in) vanish from the module.
 */
#ifndef EDGEFN_H
#define EDGEFN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EDGEFN_API static inline __attribute__((unused))

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

/* One header: NUL-terminated name and value with their byte lengths. */
typedef struct {
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
} edgefn_field;

/* A parsed incoming request, valid while the handler runs. `path` and `query`
 * split `uri` at the first '?' (`query` is "" when there is none). Header names
 * are lower-case (the host guarantees it). The body may hold any bytes: use
 * body_len; it is NUL-terminated too, for text. */
typedef struct {
    const char *method;
    const char *uri;
    const char *path;
    const char *query;
    size_t header_count;
    const edgefn_field *headers;
    const char *body;
    size_t body_len;
} edgefn_request;

/* A decoded http_fetch response; release it with edgefn_fetch_result_free. */
typedef struct {
    uint32_t status;
    size_t header_count;
    const edgefn_field *headers;
    const char *body; /* body_len bytes, NUL-terminated */
    size_t body_len;
    void *raw_; /* private: the host's buffer, which holds the body */
} edgefn_fetch_result;

/* Growable byte buffer; `failed` latches on out-of-memory so callers can check
 * once at the end instead of after every append. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
} edgefn_buf;

/* A response under construction (opaque: use the edgefn_response_* calls).
 * Headers are kept already wire-encoded so finishing is one copy. */
typedef struct {
    uint32_t status;
    uint32_t header_count;
    edgefn_buf headers;
    edgefn_buf body;
} edgefn_response;

/* Log levels for edgefn_log. */
enum { EDGEFN_LOG_DEBUG = 0, EDGEFN_LOG_INFO = 1, EDGEFN_LOG_WARN = 2, EDGEFN_LOG_ERROR = 3 };

/* http_fetch results: 0 is success, -1..-5 come from the host (docs/abi.md), the
 * rest are failures detected inside the guest. */
enum {
    EDGEFN_FETCH_OK = 0,
    EDGEFN_FETCH_DENIED = -1,
    EDGEFN_FETCH_MALFORMED = -2,
    EDGEFN_FETCH_NETWORK = -3,
    EDGEFN_FETCH_TIMEOUT = -4,
    EDGEFN_FETCH_TOO_LARGE = -5,
    EDGEFN_FETCH_NOMEM = -100,       /* the guest could not allocate */
    EDGEFN_FETCH_BAD_RESPONSE = -101 /* the host's response did not decode */
};

/* kv_get/kv_set/kv_delete results: 0 is success, the rest come from the host
 * (docs/kv.md). */
enum {
    EDGEFN_KV_OK = 0,
    EDGEFN_KV_ABSENT = -1,      /* kv_get: no such key */
    EDGEFN_KV_MALFORMED = -2,   /* a pointer or length outside memory */
    EDGEFN_KV_UNAVAILABLE = -3, /* the store cannot be reached */
    EDGEFN_KV_TIMEOUT = -4,     /* the store did not answer in time */
    EDGEFN_KV_TOO_LARGE = -5,   /* key over 512 bytes, value over kv.max_value_bytes */
    EDGEFN_KV_FORBIDDEN = -6,   /* the function's `kv` does not name the store */
    EDGEFN_KV_QUOTA = -7        /* the project's kv.max_project_bytes is full */
};

/* ------------------------------------------------------------------------ */
/* Host imports (module "edgefn")                                            */
/* ------------------------------------------------------------------------ */

__attribute__((import_module("edgefn"), import_name("log")))
void edgefn__host_log(int32_t level, const void *ptr, uint32_t len);

__attribute__((import_module("edgefn"), import_name("http_fetch")))
int64_t edgefn__host_http_fetch(const void *req_ptr, uint32_t req_len);

__attribute__((import_module("edgefn"), import_name("kv_get")))
int64_t edgefn__host_kv_get(const void *store, uint32_t store_len, const void *key, uint32_t key_len);

__attribute__((import_module("edgefn"), import_name("kv_set")))
int32_t edgefn__host_kv_set(const void *store, uint32_t store_len, const void *key, uint32_t key_len,
                            const void *value, uint32_t value_len);

__attribute__((import_module("edgefn"), import_name("kv_delete")))
int32_t edgefn__host_kv_delete(const void *store, uint32_t store_len, const void *key, uint32_t key_len);

/* ------------------------------------------------------------------------ */
/* Byte buffer and wire-format helpers                                       */
/* ------------------------------------------------------------------------ */

EDGEFN_API void edgefn_buf_reserve(edgefn_buf *b, size_t extra) {
    if (b->failed || b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *data = (uint8_t *)realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return;
    }
    b->data = data;
    b->cap = cap;
}

EDGEFN_API void edgefn_buf_write(edgefn_buf *b, const void *data, size_t len) {
    edgefn_buf_reserve(b, len);
    if (b->failed || len == 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

EDGEFN_API void edgefn_buf_u32(edgefn_buf *b, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    edgefn_buf_write(b, le, 4);
}

/* A wire string: u32 length then the bytes. */
EDGEFN_API void edgefn_buf_string(edgefn_buf *b, const void *data, size_t len) {
    edgefn_buf_u32(b, (uint32_t)len);
    edgefn_buf_write(b, data, len);
}

EDGEFN_API void edgefn_buf_free(edgefn_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Packs a guest buffer the way the ABI returns it: (ptr << 32) | len. */
EDGEFN_API int64_t edgefn_pack(const void *ptr, size_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint32_t)len);
}

/* Bounds-checked reader over a wire buffer. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int bad;
} edgefn__reader;

EDGEFN_API uint32_t edgefn__read_u32(edgefn__reader *r) {
    if (r->bad || r->left < 4) {
        r->bad = 1;
        return 0;
    }
    const uint8_t *b = r->p;
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    r->p += 4;
    r->left -= 4;
    return v;
}

/* Steps over a wire string and returns its length (its bytes end at r->p). */
EDGEFN_API size_t edgefn__skip_string(edgefn__reader *r) {
    uint32_t n = edgefn__read_u32(r);
    if (r->bad || n > r->left) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    r->left -= n;
    return n;
}

/* Copies the next wire string NUL-terminated to *out, advancing both. Only
 * used on input edgefn__measure_tail has validated. */
EDGEFN_API const char *edgefn__copy_string(edgefn__reader *r, char **out, size_t *len) {
    size_t n = edgefn__skip_string(r);
    char *s = *out;
    memcpy(s, r->p - n, n);
    s[n] = '\0';
    *out += n + 1;
    *len = n;
    return s;
}

/* Validates "u32 count, count name/value pairs, string body" running to the
 * end of the buffer, and returns the bytes the NUL-terminated header strings
 * need, or SIZE_MAX when malformed. The count check (a pair needs at least 8
 * bytes) also keeps callers' size arithmetic from overflowing. */
EDGEFN_API size_t edgefn__measure_tail(edgefn__reader r, uint32_t *count) {
    *count = edgefn__read_u32(&r);
    if (r.bad || *count > r.left / 8)
        return SIZE_MAX;
    size_t need = 0;
    for (uint32_t i = 0; i < 2 * *count; i++)
        need += edgefn__skip_string(&r) + 1;
    edgefn__skip_string(&r);
    return (r.bad || r.left) ? SIZE_MAX : need;
}

/* Copies the validated header strings into `fields`/`chars` and NUL-terminates
 * the body in place: it ends the buffer, and edgefn_alloc always reserves one
 * spare byte past what it was asked for. */
EDGEFN_API void edgefn__read_tail(edgefn__reader *r, edgefn_field *fields, char *chars, const char **body,
                                  size_t *body_len) {
    uint32_t count = edgefn__read_u32(r);
    for (uint32_t i = 0; i < count; i++) {
        fields[i].name = edgefn__copy_string(r, &chars, &fields[i].name_len);
        fields[i].value = edgefn__copy_string(r, &chars, &fields[i].value_len);
    }
    *body_len = edgefn__skip_string(r);
    *body = (const char *)r->p - *body_len;
    *(uint8_t *)r->p = 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

/* Parses a request in the wire format. `data` must come from edgefn_alloc and
 * outlive the result: the body stays in it (NUL-terminated in place), only
 * the other strings are copied, into one allocation the caller free()s.
 * Returns NULL when malformed or out of memory. */
EDGEFN_API edgefn_request *edgefn_request_parse(uint8_t *data, size_t len) {
    edgefn__reader r = {data, len, 0};
    size_t method_len = edgefn__skip_string(&r);
    size_t uri_len = edgefn__skip_string(&r);
    uint32_t count = 0;
    size_t need = r.bad ? SIZE_MAX : edgefn__measure_tail(r, &count);
    if (need == SIZE_MAX)
        return NULL;
    /* method, uri and path (at most the uri) each with a NUL, then headers. */
    size_t size = sizeof(edgefn_request) + count * sizeof(edgefn_field) + method_len + 2 * uri_len + 3 + need;
    edgefn_request *req = (edgefn_request *)malloc(size);
    if (!req)
        return NULL;
    edgefn_field *fields = (edgefn_field *)(req + 1);
    char *chars = (char *)(fields + count);

    r = (edgefn__reader){data, len, 0};
    size_t n;
    req->method = edgefn__copy_string(&r, &chars, &n);
    req->uri = edgefn__copy_string(&r, &chars, &n);
    const char *q = (const char *)memchr(req->uri, '?', n);
    size_t path_len = q ? (size_t)(q - req->uri) : n;
    memcpy(chars, req->uri, path_len);
    chars[path_len] = '\0';
    req->path = chars;
    chars += path_len + 1;
    req->query = q ? q + 1 : "";
    req->header_count = count;
    req->headers = fields;
    edgefn__read_tail(&r, fields, chars, &req->body, &req->body_len);
    return req;
}

/* Case-insensitive lookup in a header array; NULL when absent. */
EDGEFN_API const char *edgefn_find_field(const edgefn_field *fields, size_t count, const char *name) {
    size_t name_len = strlen(name);
    for (size_t i = 0; i < count; i++) {
        if (fields[i].name_len != name_len)
            continue;
        size_t j = 0;
        while (j < name_len && (fields[i].name[j] | 0x20) == (name[j] | 0x20))
            j++;
        if (j == name_len)
            return fields[i].value;
    }
    return NULL;
}

/* The value of request header `name` (any case), or NULL. */
EDGEFN_API const char *edgefn_header(const edgefn_request *req, const char *name) {
    return edgefn_find_field(req->headers, req->header_count, name);
}

EDGEFN_API int edgefn__hex(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* The percent-decoded value of query parameter `name` as a new string the
 * caller free()s, or NULL when absent (or out of memory). "a" alone gives "". */
EDGEFN_API char *edgefn_query_param(const edgefn_request *req, const char *name) {
    size_t name_len = strlen(name);
    const char *s = req->query;
    while (*s) {
        const char *end = strchr(s, '&');
        size_t seg = end ? (size_t)(end - s) : strlen(s);
        if (strncmp(s, name, name_len) == 0 && (seg == name_len || s[name_len] == '=')) {
            const char *v = seg == name_len ? s + seg : s + name_len + 1;
            size_t vlen = (size_t)(s + seg - v);
            char *out = (char *)malloc(vlen + 1), *o = out;
            if (!out)
                return NULL;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] == '%' && i + 2 < vlen && edgefn__hex(v[i + 1]) >= 0 && edgefn__hex(v[i + 2]) >= 0) {
                    *o++ = (char)(edgefn__hex(v[i + 1]) * 16 + edgefn__hex(v[i + 2]));
                    i += 2;
                } else {
                    *o++ = v[i] == '+' ? ' ' : v[i];
                }
            }
            *o = '\0';
            return out;
        }
        s += seg + (end ? 1 : 0);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

/* A new response with `status` (100..599) and no headers or body; NULL on OOM.
 * Every edgefn_response_* call below accepts NULL, so builders can chain
 * without checking, and the entrypoint answers 500 for a NULL response. */
EDGEFN_API edgefn_response *edgefn_response_new(uint32_t status) {
    edgefn_response *r = (edgefn_response *)calloc(1, sizeof(edgefn_response));
    if (r)
        r->status = status;
    return r;
}

EDGEFN_API void edgefn_response_set_status(edgefn_response *r, uint32_t status) {
    if (r)
        r->status = status;
}

EDGEFN_API void edgefn_response_add_header(edgefn_response *r, const char *name, const char *value) {
    if (!r)
        return;
    edgefn_buf_string(&r->headers, name, strlen(name));
    edgefn_buf_string(&r->headers, value, strlen(value));
    r->header_count++;
}

/* Appends raw bytes to the body. */
EDGEFN_API void edgefn_response_write(edgefn_response *r, const void *data, size_t len) {
    if (r)
        edgefn_buf_write(&r->body, data, len);
}

/* Appends a NUL-terminated string to the body. */
EDGEFN_API void edgefn_response_print(edgefn_response *r, const char *text) {
    edgefn_response_write(r, text, strlen(text));
}

/* Appends printf-formatted text to the body (vsnprintf: no WASI imports). */
__attribute__((format(printf, 2, 3))) EDGEFN_API void edgefn_response_printf(edgefn_response *r,
                                                                             const char *fmt, ...) {
    if (!r)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    edgefn_buf_reserve(&r->body, (size_t)n + 1);
    if (r->body.failed)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)r->body.data + r->body.len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->body.len += (size_t)n;
}

/* Appends `len` bytes of `s` to the body as a quoted, escaped JSON string. */
EDGEFN_API void edgefn_response_json_string(edgefn_response *r, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    edgefn_response_write(r, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            edgefn_response_write(r, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            edgefn_response_write(r, esc, 6);
        } else {
            edgefn_response_write(r, &s[i], 1);
        }
    }
    edgefn_response_write(r, "\"", 1);
}

/* Shorthand: `status` with content-type text/plain and `text` as the body. */
EDGEFN_API edgefn_response *edgefn_text(uint32_t status, const char *text) {
    edgefn_response *r = edgefn_response_new(status);
    edgefn_response_add_header(r, "content-type", "text/plain; charset=utf-8");
    edgefn_response_print(r, text);
    return r;
}

/* Shorthand: `status` with content-type application/json and `json` as the body. */
EDGEFN_API edgefn_response *edgefn_json(uint32_t status, const char *json) {
    edgefn_response *r = edgefn_response_new(status);
    edgefn_response_add_header(r, "content-type", "application/json");
    edgefn_response_print(r, json);
    return r;
}

EDGEFN_API void edgefn_response_free(edgefn_response *r) {
    if (!r)
        return;
    edgefn_buf_free(&r->headers);
    edgefn_buf_free(&r->body);
    free(r);
}

/* Last-resort answer when even encoding fails: static, so it needs no memory;
 * edgefn_free recognises it and leaves it alone. */
static const uint8_t edgefn__oom_response[] = {
    0xf4, 0x01, 0, 0, /* status 500 */
    0, 0, 0, 0,       /* no headers */
    13, 0, 0, 0, 'o', 'u', 't', ' ', 'o', 'f', ' ', 'm', 'e', 'm', 'o', 'r', 'y',
};

/* Encodes `r` in the response wire format, frees it, and returns the packed
 * (ptr << 32) | len an entrypoint returns. A NULL or out-of-memory response
 * becomes a 500. The host releases the buffer through edgefn_free. */
EDGEFN_API int64_t edgefn_response_finish(edgefn_response *r) {
    if (!r || r->headers.failed || r->body.failed) {
        edgefn_response_free(r);
        return edgefn_pack(edgefn__oom_response, sizeof edgefn__oom_response);
    }
    edgefn_buf out = {0};
    edgefn_buf_reserve(&out, 12 + r->headers.len + r->body.len);
    edgefn_buf_u32(&out, r->status);
    edgefn_buf_u32(&out, r->header_count);
    edgefn_buf_write(&out, r->headers.data, r->headers.len);
    edgefn_buf_string(&out, r->body.data, r->body.len);
    edgefn_response_free(r);
    if (out.failed) {
        edgefn_buf_free(&out);
        return edgefn_pack(edgefn__oom_response, sizeof edgefn__oom_response);
    }
    return edgefn_pack(out.data, out.len);
}

/* ------------------------------------------------------------------------ */
/* Host functions                                                            */
/* ------------------------------------------------------------------------ */

/* Writes one log line for this invocation. */
EDGEFN_API void edgefn_log(int level, const char *message) {
    edgefn__host_log(level, message, (uint32_t)strlen(message));
}

__attribute__((format(printf, 2, 3))) EDGEFN_API void edgefn_logf(int level, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= 0)
        edgefn__host_log(level, line, (uint32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

EDGEFN_API void edgefn_fetch_result_free(edgefn_fetch_result *res) {
    if (res)
        free(res->raw_);
    free(res);
}

/* The value of response header `name` (any case), or NULL. */
EDGEFN_API const char *edgefn_fetch_header(const edgefn_fetch_result *res, const char *name) {
    return edgefn_find_field(res->headers, res->header_count, name);
}

/* Decodes a response-format buffer from edgefn_alloc, taking ownership of it
 * (kept for the body, freed with the result). NULL if malformed or OOM. */
EDGEFN_API edgefn_fetch_result *edgefn__parse_fetch_result(uint8_t *data, size_t len) {
    edgefn__reader r = {data, len, 0};
    uint32_t status = edgefn__read_u32(&r);
    uint32_t count = 0;
    size_t need = r.bad ? SIZE_MAX : edgefn__measure_tail(r, &count);
    edgefn_fetch_result *res = need == SIZE_MAX ? NULL
        : (edgefn_fetch_result *)malloc(sizeof(edgefn_fetch_result) + count * sizeof(edgefn_field) + need);
    if (!res) {
        free(data);
        return NULL;
    }
    edgefn_field *fields = (edgefn_field *)(res + 1);
    res->status = status;
    res->header_count = count;
    res->headers = fields;
    res->raw_ = data;
    edgefn__read_tail(&r, fields, (char *)(fields + count), &res->body, &res->body_len);
    return res;
}

/* Makes an outbound request through the host. `url` must be absolute http(s);
 * Only `name` and `value` of each header are read; `headers` may be NULL when
 * `header_count` is 0, `body` when `body_len` is 0. Returns EDGEFN_FETCH_OK and
 * sets *out (free with edgefn_fetch_result_free), or a negative EDGEFN_FETCH_*
 * code. */
EDGEFN_API int edgefn_fetch(const char *method, const char *url, const edgefn_field *headers,
                            size_t header_count, const void *body, size_t body_len,
                            edgefn_fetch_result **out) {
    *out = NULL;
    edgefn_buf req = {0};
    edgefn_buf_string(&req, method, strlen(method));
    edgefn_buf_string(&req, url, strlen(url));
    edgefn_buf_u32(&req, (uint32_t)header_count);
    for (size_t i = 0; i < header_count; i++) {
        edgefn_buf_string(&req, headers[i].name, strlen(headers[i].name));
        edgefn_buf_string(&req, headers[i].value, strlen(headers[i].value));
    }
    edgefn_buf_string(&req, body, body_len);
    if (req.failed) {
        edgefn_buf_free(&req);
        return EDGEFN_FETCH_NOMEM;
    }
    int64_t packed = edgefn__host_http_fetch(req.data, (uint32_t)req.len);
    edgefn_buf_free(&req);
    if (packed < 0)
        return (int)packed;
    /* The host allocated the response through edgefn_alloc: it is ours. */
    uint8_t *ptr = (uint8_t *)(uintptr_t)(uint32_t)((uint64_t)packed >> 32);
    *out = edgefn__parse_fetch_result(ptr, (uint32_t)packed);
    return *out ? EDGEFN_FETCH_OK : EDGEFN_FETCH_BAD_RESPONSE;
}

/* Key-value stores of the project (docs/kv.md). `store` must be one of the
 * function's `kv` names in edgefn.toml; keys are NUL-terminated here (the
 * _bytes variants take any bytes). */

/* Reads a value: EDGEFN_KV_OK with *out holding it (out->data is also
 * NUL-terminated; release it with edgefn_buf_free), or a negative EDGEFN_KV_*. */
EDGEFN_API int edgefn_kv_get_bytes(const char *store, const void *key, size_t key_len, edgefn_buf *out) {
    *out = (edgefn_buf){0};
    int64_t packed = edgefn__host_kv_get(store, (uint32_t)strlen(store), key, (uint32_t)key_len);
    if (packed < 0)
        return (int)packed;
    /* The host allocated it through edgefn_alloc (malloc with one spare byte). */
    out->data = (uint8_t *)(uintptr_t)(uint32_t)((uint64_t)packed >> 32);
    out->len = out->cap = (uint32_t)packed;
    out->data[out->len] = 0;
    return EDGEFN_KV_OK;
}

EDGEFN_API int edgefn_kv_get(const char *store, const char *key, edgefn_buf *out) {
    return edgefn_kv_get_bytes(store, key, strlen(key), out);
}

/* Stores `len` bytes of `value` under `key`: EDGEFN_KV_OK or a negative EDGEFN_KV_*. */
EDGEFN_API int edgefn_kv_set_bytes(const char *store, const void *key, size_t key_len, const void *value,
                                   size_t len) {
    return edgefn__host_kv_set(store, (uint32_t)strlen(store), key, (uint32_t)key_len, value, (uint32_t)len);
}

EDGEFN_API int edgefn_kv_set(const char *store, const char *key, const void *value, size_t len) {
    return edgefn_kv_set_bytes(store, key, strlen(key), value, len);
}

/* Deletes `key` (EDGEFN_KV_OK also when it was absent), or a negative EDGEFN_KV_*. */
EDGEFN_API int edgefn_kv_delete(const char *store, const char *key) {
    return edgefn__host_kv_delete(store, (uint32_t)strlen(store), key, (uint32_t)strlen(key));
}

/* ------------------------------------------------------------------------ */
/* Exports                                                                   */
/* ------------------------------------------------------------------------ */

typedef edgefn_response *(*edgefn_handler_fn)(const edgefn_request *req);

/* Runs one request: parse, call the handler, free the request, encode. The
 * host never sends a malformed request, so a parse failure is in practice out
 * of memory: it answers 500 without reaching the handler. */
EDGEFN_API int64_t edgefn_dispatch(edgefn_handler_fn handler, uint8_t *ptr, uint32_t len) {
    edgefn_request *req = edgefn_request_parse(ptr, len);
    edgefn_response *resp = req ? handler(req) : edgefn_text(500, "cannot parse the request\n");
    free(req);
    free(ptr);
    return edgefn_response_finish(resp);
}

/* Exports an additional entrypoint `name` (a C identifier) served by `fn`, for
 * a function registered with a non-default `entrypoint`. */
#define EDGEFN_ENTRYPOINT(name, fn)                                          \
    __attribute__((export_name(#name)))                                      \
    int64_t edgefn__entry_##name(uint8_t *ptr, uint32_t len) {               \
        return edgefn_dispatch((fn), ptr, len);                              \
    }

/* Use once per module: exports edgefn_alloc, edgefn_free and `handle` -> fn.
 * edgefn_alloc reserves one byte more than asked so a message's trailing body
 * can be NUL-terminated in place. */
#define EDGEFN_HANDLER(fn)                                                   \
    __attribute__((export_name("edgefn_alloc")))                             \
    void *edgefn_alloc(uint32_t size) {                                      \
        return size == UINT32_MAX ? NULL : malloc((size_t)size + 1);         \
    }                                                                        \
    __attribute__((export_name("edgefn_free")))                              \
    void edgefn_free(void *ptr, uint32_t size) {                             \
        (void)size;                                                          \
        if (ptr != (const void *)edgefn__oom_response)                       \
            free(ptr);                                                       \
    }                                                                        \
    EDGEFN_ENTRYPOINT(handle, fn)

#endif /* EDGEFN_H */
