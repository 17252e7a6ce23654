from django.core.management.base import BaseCommand, CommandError

from wallet.invariants import check_ledger


class Command(BaseCommand):
    help = "Verify every ledger invariant on this database. Exits 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="violations shown per check")

    def handle(self, *args, limit: int, **options):
        report = check_ledger(limit=limit)
        for line in report.checked:
            self.stdout.write(f"  checked {line}")
        stats = ", ".join(f"{k}={v}" for k, v in report.stats.items())
        self.stdout.write(f"  {stats}")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("ledger OK"))
            return
        for violation in report.violations:
            self.stderr.write(f"VIOLATION {violation.check}: {violation.detail}")
        raise CommandError(f"ledger has {len(report.violations)} violation(s); see above", returncode=1)
