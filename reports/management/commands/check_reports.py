from django.core.management.base import BaseCommand, CommandError

from reports import services
from reports.management.commands._dates import add_range_arguments, parse_range


class Command(BaseCommand):
    help = (
        "Recompute business days from ledger entries and compare with the stored rollups, exactly;"
        " also check the stored figures against clearing, adjustment and debt entries. Exits 1 on"
        " any difference."
    )

    def add_arguments(self, parser):
        add_range_arguments(parser)

    def handle(self, *args, **options):
        first, last = parse_range(options)
        failures = 0
        for day in services.days_between(first, last):
            result = services.rollups_check(day)
            if result.ok:
                self.stdout.write(f"  {day}: OK")
                continue
            failures += 1
            for problem in result.problems:
                self.stderr.write(f"DIFFERENCE {day} {problem}")
        if failures:
            raise CommandError(
                f"{failures} day(s) differ from the ledger; see above. The ledger is the truth:"
                " rebuild_reports --day DAY (--force for a closed day) after finding the cause.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"reports match the ledger for {first}..{last}"))
