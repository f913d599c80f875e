"""`python -m dialer`: the `dialer` command without its console script."""

from dialer.cli.app import main

main(prog_name="dialer")
