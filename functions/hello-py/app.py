"""hello: an edgefn function in Python, a wasi:http component built by componentize-py.

Change the greeting and save: `edgefn dev` rebuilds it (10 s to a minute: CPython is bundled in).
`request` has .method(), .path_with_query() and .headers(); see docs/guests.md.
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import Fields, OutgoingBody, OutgoingResponse, ResponseOutparam


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out):
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        response.set_status_code(200)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as stream:  # at most 4096 bytes per blocking_write_and_flush
            stream.blocking_write_and_flush(b"Hello from edgefn!\n")
        OutgoingBody.finish(body, None)
