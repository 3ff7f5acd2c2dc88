"""`python -m rondo` is the `rondo` command."""

from rondo.cli.main import main

main()
