"""`python -m tournament`: the same command line as the `tournament` script."""
from tournament.cli.main import main

main()
