"""`python -m custseg`: the same command as `custseg`."""

from custseg.cli import main

main()
