"""`edgefn build`: compile a guest (C with the SDK, or WAT) to a .wasm next to its source."""

from __future__ import annotations

from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.guestbuild import GuestBuildError, build_c, load_guest_bytes


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="[default: SOURCE.wasm]")
def build(source: Path, output: Path | None) -> None:
    """Build SOURCE (.c or .wat) into WebAssembly for edgefn (wasm32-wasi reactor, ABI v1).

    Deploy and dev build sources themselves; this is for checking a guest or shipping a .wasm.

    \b
    Examples:
      edgefn build functions/hello/hello.wat
      edgefn build functions/api/api.c -o dist/api.wasm
    """
    try:
        if source.suffix == ".c":
            out = build_c(source, output)
        else:
            out = output or source.with_suffix(".wasm")
            out.write_bytes(load_guest_bytes(source))
    except GuestBuildError as exc:
        raise CliError(str(exc), USAGE) from None
    click.echo(f"built {out} ({out.stat().st_size} bytes)")
