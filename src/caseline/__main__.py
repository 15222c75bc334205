"""`python -m caseline` runs the CLI."""

from caseline.cli import main

main()
