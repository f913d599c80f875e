"""`python -m dialer.cli` (the spelling older scripts and units use)."""

from dialer.cli.app import main

main(prog_name="dialer")
