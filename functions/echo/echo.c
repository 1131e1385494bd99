/* echo: describes the request back to the caller, for debugging routes and
 * headers. The body is a JSON-ish summary followed by the raw request body, and
 * an `x-echo` request header is copied into the response. */
#include "edgefn.h"

static edgefn_response *echo(const edgefn_request *req) {
    edgefn_response *resp = edgefn_response_new(200);
    edgefn_response_add_header(resp, "content-type", "text/plain; charset=utf-8");
    const char *tag = edgefn_header(req, "x-echo");
    if (tag)
        edgefn_response_add_header(resp, "x-echo", tag);

    edgefn_response_print(resp, "{\"method\": ");
    edgefn_response_json_string(resp, req->method, strlen(req->method));
    edgefn_response_print(resp, ", \"uri\": ");
    edgefn_response_json_string(resp, req->uri, strlen(req->uri));
    edgefn_response_print(resp, ", \"headers\": {");
    for (size_t i = 0; i < req->header_count; i++) {
        const edgefn_field *h = &req->headers[i];
        edgefn_response_print(resp, i ? ", " : "");
        edgefn_response_json_string(resp, h->name, h->name_len);
        edgefn_response_print(resp, ": ");
        edgefn_response_json_string(resp, h->value, h->value_len);
    }
    edgefn_response_printf(resp, "}, \"body_length\": %zu}\n", req->body_len);
    edgefn_response_write(resp, req->body, req->body_len);
    return resp;
}

EDGEFN_HANDLER(echo)
