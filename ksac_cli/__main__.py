"""`python -m ksac_cli ...` is the same as `ksac ...` (torchrun needs a module to launch)."""

from ksac_cli.cli.main import main

if __name__ == "__main__":
    main()
