/* hello-c: the smallest SDK guest, answers every request with a greeting. */
#include "edgefn.h"

static edgefn_response *hello(const edgefn_request *req) {
    (void)req;
    return edgefn_text(200, "Hello from C");
}

EDGEFN_HANDLER(hello)
