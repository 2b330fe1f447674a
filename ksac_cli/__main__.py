"""`python -m ksac_cli ...` is the same as `ksac ...` (torchrun needs a module to launch). The
reliability tests run it with KSAC_FAULT set: the one place their fault injection is installed."""

import os

from ksac_cli.cli.main import main

if __name__ == "__main__":
    if os.environ.get("KSAC_FAULT"):
        from ksac_cli import faults

        faults.install(os.environ["KSAC_FAULT"])
    main()
