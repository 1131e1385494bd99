"""`python -m edgehost`: the `edgefn` command, for a process that starts another (`edgefn dev --runners`)."""

from edgehost.cli.main import main

main()
