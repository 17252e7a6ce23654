from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reports import services
from reports.management.commands._dates import add_range_arguments, parse_range


class Command(BaseCommand):
    help = (
        "Recompute the daily rollups of a range of business days from the ledger. A closed day whose"
        " figures would change is refused (the ledger was altered) unless --force, which is audited."
    )

    def add_arguments(self, parser):
        add_range_arguments(parser)
        parser.add_argument("--force", action="store_true", help="rewrite closed days that changed (audited)")

    def handle(self, *args, force: bool, **options):
        first, last = parse_range(options)
        days = services.days_between(first, last)
        bar = tqdm(total=len(days), unit="day", desc="rebuilding", file=self.stderr, disable=False)
        changed = 0
        try:
            for day in days:
                bar.set_postfix_str(day.isoformat())
                stored = services.rollup_store(day, force=force)
                changed += stored.changed
                bar.update(1)
        except services.ClosedDayChanged as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        self.stdout.write(self.style.SUCCESS(f"rebuilt {len(days)} day(s) {first}..{last}; {changed} changed"))
