"""The sources `edgefn init` and `edgefn add` write: a hello function in each guest language, and
the three tables that deploy it. Each template answers GREETING, so `add` can say its own name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from edgehost.cli.errors import USAGE, CliError
from edgehost.limits import DEFAULT_MAX_EXECUTION_MS, DEFAULT_MEMORY_PAGES

# A function's three tables: `edgefn init` writes them for hello, `edgefn add` appends them for more.
FUNCTION_TOML = """\
[[functions]]
name = "{name}"
wasm = "functions/{name}/{source}"   # .wat, .c, .py and .js are built for you; .wasm is used as is
memory_pages = {memory_pages}                   # 64 KiB pages
max_execution_ms = {max_execution_ms}

[[routes]]
path = "/{name}"
methods = ["GET"]
function = "{name}"

[[deployments]]
function = "{name}"
selector = "true"                   # every node; e.g. "region == 'tokyo'"
"""

# The body is a NUL-terminated string placed right after the response head, so editing the greeting
# needs no byte counting: `handle` measures it and writes its length into the head.
HELLO_WAT = r""";; hello: an edgefn function in WebAssembly text (guest ABI v1).
;; Change the greeting below and save: `edgefn dev` rebuilds and serves it.
(module
  (memory (export "memory") 1)

  ;; The response in the wire format: u32 status, u32 header count, each header as two
  ;; strings (u32 length + bytes), then the body as a string. Integers are little-endian.
  (data (i32.const 16)
    "\c8\00\00\00"                   ;; status 200
    "\01\00\00\00"                   ;; 1 header
    "\0c\00\00\00" "content-type"
    "\0a\00\00\00" "text/plain"
    "\00\00\00\00")                  ;; body length, filled in by handle
  (data (i32.const 58) "Hello from edgefn!\n\00")   ;; the body: any text, ended by \00

  ;; A bump allocator for the request buffer, reset after every request.
  (global $heap_base i32 (i32.const 32768))
  (global $heap_top (mut i32) (i32.const 32768))

  (func (export "edgefn_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i64)
    (local $have i64)
    (local.set $ptr (i32.and (i32.add (global.get $heap_top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $size))))
    (local.set $have (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.wrap_i64 (i64.div_u
                (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535))
                (i64.const 65536))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap_top (i32.wrap_i64 (local.get $end)))
    (local.get $ptr))

  ;; handle(req_ptr, req_len) -> (resp_ptr << 32) | resp_len
  (func (export "handle") (param i32 i32) (result i64)
    (local $len i32)
    (global.set $heap_top (global.get $heap_base))
    (block $done
      (loop $scan
        (br_if $done (i32.eqz (i32.load8_u (i32.add (i32.const 58) (local.get $len)))))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $scan)))
    (i32.store (i32.const 54) (local.get $len))
    (i64.or
      (i64.shl (i64.const 16) (i64.const 32))
      (i64.extend_i32_u (i32.add (i32.const 42) (local.get $len)))))
)
"""

HELLO_C = """\
/* hello: an edgefn function in C. Change the greeting and save: `edgefn dev` rebuilds it. */
#include "edgefn.h"

static edgefn_response *hello(const edgefn_request *req) {
    (void)req;
    return edgefn_text(200, "Hello from edgefn!\\n");
}

EDGEFN_HANDLER(hello)
"""

# A Python guest is a wasi:http component: componentize-py's convention is a class named
# IncomingHandler in the module `wasm =` names, whose folder is the component's Python path.
HELLO_PY = """\
\"\"\"hello: an edgefn function in Python, a wasi:http component built by componentize-py.

Change the greeting and save: `edgefn dev` rebuilds it (10 s to a minute: CPython is bundled in).
`request` has .method(), .path_with_query() and .headers(); see docs/guests.md.
\"\"\"

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
            stream.blocking_write_and_flush(b"Hello from edgefn!\\n")
        OutgoingBody.finish(body, None)
"""

HELLO_JS = """\
// hello: an edgefn function in JavaScript, a wasi:http component built by componentize-js.
// Change the greeting and save: `edgefn dev` rebuilds it. `fetch` events carry a standard
// Request; answer with a standard Response (see docs/guests.md).
addEventListener("fetch", (event) =>
  event.respondWith(new Response("Hello from edgefn!\\n", { headers: { "content-type": "text/plain" } })),
);
"""


class Limits(NamedTuple):
    """The limits a new function's table starts with."""

    memory_pages: int
    max_execution_ms: int


# The project file's defaults (1 MiB, 50 ms): an ABI v1 guest needs a page or two and answers in
# microseconds.
MODULE_LIMITS = Limits(DEFAULT_MEMORY_PAGES, DEFAULT_MAX_EXECUTION_MS)
# Components bundle a language runtime: CPython's memory starts near 13 MiB and a JavaScript
# engine's near 9 MiB, and a fresh instance's first request runs its initialisation.
COMPONENT_LIMITS = Limits(memory_pages=1024, max_execution_ms=1000)


@dataclass(frozen=True)
class Template:
    """One language's hello function: its source, the file name it is written to ("{name}" is
    the function's name) and its limits."""

    text: str
    file: str
    limits: Limits


TEMPLATES = {
    "wat": Template(HELLO_WAT, "{name}.wat", MODULE_LIMITS),
    "c": Template(HELLO_C, "{name}.c", MODULE_LIMITS),
    "python": Template(HELLO_PY, "app.py", COMPONENT_LIMITS),  # a module name: an identifier
    "js": Template(HELLO_JS, "{name}.js", COMPONENT_LIMITS),
}
GREETING = "Hello from edgefn!"


def write_guest(project_dir: Path, name: str, template: str, greeting: str = GREETING) -> Path:
    """Writes `functions/NAME/<the template's file>` from the hello template, answering
    `greeting`.

    Returns the path written, relative to `project_dir`; raises CliError (2) if it exists.
    """
    text = TEMPLATES[template].text.replace(GREETING, greeting)
    if name != "hello":  # the template's own name, in its comment and (C) its handler
        identifier = re.sub(r"\W", "_", name if name[0].isalpha() else f"fn_{name}")
        text = text.replace("hello:", f"{name}:", 1).replace("*hello(", f"*{identifier}(")
        text = text.replace("EDGEFN_HANDLER(hello)", f"EDGEFN_HANDLER({identifier})")
    relative = Path("functions") / name / TEMPLATES[template].file.format(name=name)
    guest = project_dir / relative
    if guest.exists():
        raise CliError(f"{guest} already exists; not overwriting it", USAGE)
    guest.parent.mkdir(parents=True, exist_ok=True)
    guest.write_text(text)
    return relative


def function_toml(name: str, template: str, source: Path) -> str:
    """The [[functions]], [[routes]] and [[deployments]] tables of function `name`, written
    from `template` into `source` (its path relative to the project)."""
    limits = TEMPLATES[template].limits
    return FUNCTION_TOML.format(
        name=name,
        source=source.name,
        memory_pages=limits.memory_pages,
        max_execution_ms=limits.max_execution_ms,
    )
