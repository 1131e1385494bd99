/* json-api: a read-only JSON API over a fixed catalogue. Route it as both
 * "/items" and "/items/{id}"; the runner passes {id} as x-edgefn-param-id. */
#include "edgefn.h"

typedef struct {
    unsigned id;
    const char *name;
    unsigned price_cents;
} item;

static const item ITEMS[] = {
    {1, "widget", 250},
    {2, "gadget", 1999},
    {3, "doohickey", 5},
};
#define ITEM_COUNT (sizeof ITEMS / sizeof ITEMS[0])

static void write_item(edgefn_response *resp, const item *it) {
    edgefn_response_printf(resp, "{\"id\": %u, \"name\": ", it->id);
    edgefn_response_json_string(resp, it->name, strlen(it->name));
    edgefn_response_printf(resp, ", \"price_cents\": %u}", it->price_cents);
}

static edgefn_response *not_found(void) {
    return edgefn_json(404, "{\"error\": \"not found\"}");
}

static edgefn_response *list_items(void) {
    edgefn_response *resp = edgefn_json(200, "[");
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        edgefn_response_print(resp, i ? ", " : "");
        write_item(resp, &ITEMS[i]);
    }
    edgefn_response_print(resp, "]");
    return resp;
}

static edgefn_response *get_item(const char *id) {
    char *end;
    unsigned long wanted = strtoul(id, &end, 10);
    if (*id == '\0' || *end != '\0')
        return not_found();
    for (size_t i = 0; i < ITEM_COUNT; i++) {
        if (ITEMS[i].id == wanted) {
            edgefn_response *resp = edgefn_json(200, "");
            write_item(resp, &ITEMS[i]);
            return resp;
        }
    }
    return not_found();
}

static edgefn_response *api(const edgefn_request *req) {
    if (strcmp(req->method, "GET") != 0)
        return not_found();
    const char *id = edgefn_header(req, "x-edgefn-param-id");
    if (id && strncmp(req->path, "/items/", 7) == 0)
        return get_item(id);
    if (strcmp(req->path, "/items") == 0)
        return list_items();
    return not_found();
}

EDGEFN_HANDLER(api)
