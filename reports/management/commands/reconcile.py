from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reports.reconciliation import services


class Command(BaseCommand):
    help = "Reconcile a provider's transaction export (CSV) against our records for a period."

    def add_arguments(self, parser):
        parser.add_argument("provider")
        parser.add_argument("file")
        parser.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD")
        parser.add_argument("--user", required=True, help="the staff user the run is recorded for")

    def handle(self, *args, provider, file, first, last, user, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no file {file}")
        actor = get_user_model().objects.filter(username=user).first()
        if actor is None:
            raise CommandError(f"no user {user!r}")
        try:
            period = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            raise CommandError("--from/--to must be YYYY-MM-DD") from None
        with path.open("rb") as stream:
            run = services.run_create(
                provider=provider,
                period_from=period[0],
                period_to=period[1],
                filename=path.name,
                chunks=iter(lambda: stream.read(1 << 20), b""),
                actor=actor,
            )
        bar = tqdm(unit="line", desc=f"run #{run.pk}", file=self.stderr, disable=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        run = services.run_execute(run.pk, progress=progress)
        bar.close()
        if run.status != run.Status.DONE:
            raise CommandError(f"file refused: {run.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"run #{run.pk}: {run.lines_done} lines, {run.matched} matched, {run.differences} differences"
                f" in {run.duration_ms} ms"
            )
        )
