/* fetch: a tiny proxy showing http_fetch. The target URL comes from the
 * `x-target` request header or the `url` query parameter; the answer carries
 * the upstream status and body, or 502 with the negative http_fetch code. The
 * target's host must be on the function's http_allow list. */
#include "edgefn.h"

static edgefn_response *proxy(const edgefn_request *req) {
    char *url = edgefn_query_param(req, "url");
    const char *target = edgefn_header(req, "x-target");
    if (!target)
        target = url;
    if (!target || !*target) {
        free(url);
        return edgefn_text(400, "give the URL in an x-target header or a url query parameter\n");
    }

    edgefn_fetch_result *res;
    int code = edgefn_fetch("GET", target, NULL, 0, NULL, 0, &res);
    int outcome = code ? code : (int)res->status;
    edgefn_logf(code ? EDGEFN_LOG_WARN : EDGEFN_LOG_INFO, "fetch %s -> %d", target, outcome);
    free(url);
    if (code != EDGEFN_FETCH_OK) {
        edgefn_response *resp = edgefn_response_new(502);
        edgefn_response_add_header(resp, "content-type", "text/plain; charset=utf-8");
        edgefn_response_printf(resp, "http_fetch failed: %d\n", code);
        return resp;
    }

    edgefn_response *resp = edgefn_response_new(res->status);
    const char *type = edgefn_fetch_header(res, "content-type");
    edgefn_response_add_header(resp, "content-type", type ? type : "application/octet-stream");
    edgefn_response_write(resp, res->body, res->body_len);
    edgefn_fetch_result_free(res);
    return resp;
}

EDGEFN_HANDLER(proxy)
