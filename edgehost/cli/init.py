"""`edgefn init`: a project that `edgefn dev` serves as is, so a newcomer's first command works."""

from __future__ import annotations

import re
from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.project import PROJECT_FILE

# A function's three tables: `edgefn init` writes them for hello, `edgefn add` appends them for more.
FUNCTION_TOML = """\
[[functions]]
name = "{name}"
wasm = "functions/{name}/{source}"   # .wat and .c are built for you; .wasm is used as is
memory_pages = 16                   # 64 KiB pages
max_execution_ms = 50

[[routes]]
path = "/{name}"
methods = ["GET"]
function = "{name}"

[[deployments]]
function = "{name}"
selector = "true"                   # every node; e.g. "region == 'tokyo'"
"""

PROJECT_TOML = (
    """\
# The project file: see docs/project-file.md for every key.
project = "{project}"

"""
    + FUNCTION_TOML
)

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

TEMPLATES = {"wat": HELLO_WAT, "c": HELLO_C}
GITIGNORE = ".edgefn/\n*.wasm\n"
GREETING = "Hello from edgefn!"


def write_guest(project_dir: Path, name: str, template: str, greeting: str = GREETING) -> Path:
    """Writes `functions/NAME/NAME.{wat,c}` from the hello template, answering `greeting`.

    Returns the path written, relative to `project_dir`; raises CliError (2) if it exists.
    """
    text = TEMPLATES[template].replace(GREETING, greeting)
    if name != "hello":  # the template's own name, in its comment and (C) its handler
        identifier = re.sub(r"\W", "_", name if name[0].isalpha() else f"fn_{name}")
        text = text.replace("hello:", f"{name}:", 1).replace("*hello(", f"*{identifier}(")
        text = text.replace("EDGEFN_HANDLER(hello)", f"EDGEFN_HANDLER({identifier})")
    relative = Path("functions") / name / f"{name}.{template}"
    guest = project_dir / relative
    if guest.exists():
        raise CliError(f"{guest} already exists; not overwriting it", USAGE)
    guest.parent.mkdir(parents=True, exist_ok=True)
    guest.write_text(text)
    return relative


def project_name(directory: Path) -> str:
    """The folder's name made safe for the `project` key ([a-z0-9-], at most 63 characters)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "demo"


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option(
    "--template",
    type=click.Choice(sorted(TEMPLATES)),
    default="wat",
    show_default=True,
    help="the hello function's language (C is built with the bundled zig toolchain)",
)
def init(directory: Path, template: str) -> None:
    """Create a project in DIRECTORY (default: here): edgefn.toml and a hello function.

    Refuses to touch a folder that already holds an edgefn.toml (exit status 2).

    \b
    Examples:
      edgefn init hello-edge && cd hello-edge && edgefn dev
      edgefn init api --template c
    """
    project_file = directory / PROJECT_FILE
    if project_file.exists():
        raise CliError(f"{project_file} already exists; not overwriting it", USAGE)
    guest = directory / write_guest(directory, "hello", template)
    project_toml = PROJECT_TOML.format(project=project_name(directory), name="hello", source=guest.name)
    project_file.write_text(project_toml)
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(
        f"created {project_file} and {guest}\n"
        f"next: {where}edgefn dev   then: curl http://127.0.0.1:8080/hello"
    )
