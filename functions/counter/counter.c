/* counter: counts the visits of each path in the project's KV store "default"
 * and greets with the GREETING variable. Needs, in its [[functions]] table:
 *   kv = ["default"]
 *   env = { GREETING = "Hello" }
 * A store that cannot be reached answers 503 with the host's code. */
#include <stdio.h>
#include <stdlib.h>

#include "edgefn.h"

static edgefn_response *unavailable(int rc) {
    char text[48];
    snprintf(text, sizeof text, "the KV store failed: %d\n", rc);
    return edgefn_text(503, text);
}

static edgefn_response *counter(const edgefn_request *req) {
    long visits = 0;
    edgefn_buf old;
    int rc = edgefn_kv_get("default", req->path, &old);
    if (rc == EDGEFN_KV_OK) {
        visits = strtol((const char *)old.data, NULL, 10);
        edgefn_buf_free(&old);
    } else if (rc != EDGEFN_KV_ABSENT) {
        return unavailable(rc);
    }
    char count[24];
    int n = snprintf(count, sizeof count, "%ld", visits + 1);
    rc = edgefn_kv_set("default", req->path, count, (size_t)n);
    if (rc != EDGEFN_KV_OK)
        return unavailable(rc);
    const char *greeting = getenv("GREETING");
    char text[128];
    snprintf(text, sizeof text, "%s, visitor %s of %s\n", greeting ? greeting : "Hi", count, req->path);
    return edgefn_text(200, text);
}

EDGEFN_HANDLER(counter)
