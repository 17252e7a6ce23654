#!/usr/bin/env python
import os
import sys

# These commands run the product on its public demo secrets (config/security.py): the demo
# itself, and the simulators that sign requests for a demo server; makemigrations is a
# development command that serves nothing and signs nothing, so it needs no real secret either.
DEMO_COMMANDS = {"demo", "igpx_simulate", "betsy_simulate", "makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in DEMO_COMMANDS:
        os.environ.setdefault("TOUCHLINE_DEMO", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
