import time

from django.core.management.base import BaseCommand, CommandError

from wallet.invariants import check_ledger
from wallet.models import LedgerCheckRun


class Command(BaseCommand):
    help = "Verify every ledger invariant on this database. Exits 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="violations shown per check")
        parser.add_argument("--no-record", action="store_true", help="do not store the run for the dashboard")

    def handle(self, *args, limit: int, no_record: bool, **options):
        started = time.perf_counter()
        report = check_ledger(limit=limit)
        for line in report.checked:
            self.stdout.write(f"  checked {line}")
        stats = ", ".join(f"{k}={v}" for k, v in report.stats.items())
        self.stdout.write(f"  {stats}")
        if not no_record:
            LedgerCheckRun.objects.create(
                ok=report.ok,
                violations=[f"{v.check}: {v.detail}" for v in report.violations],
                stats=report.stats,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        if report.ok:
            self.stdout.write(self.style.SUCCESS("ledger OK"))
            return
        for violation in report.violations:
            self.stderr.write(f"VIOLATION {violation.check}: {violation.detail}")
        raise CommandError(f"ledger has {len(report.violations)} violation(s); see above", returncode=1)
