"""python manage.py uof_replay: re-apply messages from the journal or from XML files.

A file named after the routing key it was delivered with (anything before the key ends with
'_', e.g. '0001_hi.pre.-.odds_change.1.sr:match.1234.-.xml') is replayed with that key, as the
wire delivered it: the sport id comes from it, and rollbacks keep their 'lo'. Files without a
key get one built from the XML, and the command says so.

Replays go through the same pipeline as live messages; stale and duplicate messages are
no-ops there, so replaying is safe. Each replay gets a new journal row pointing at the
original (source=replay) or naming the file (source=file).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feeds.models import FeedMessage
from feeds.protocol.errors import UofError
from feeds.protocol.routing import routing_key_in_name
from feeds.services.ingest import BatchResult, Incoming, apply_batch
from feeds.simulator import routing_key_for


class Command(BaseCommand):
    help = "Replay UOF messages from the journal (--ids, --outcome, --since-id) or from files/directories of XML."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="XML files or directories (sorted by name)")
        parser.add_argument("--ids", default="", help="journal ids, comma separated (ranges a-b allowed)")
        parser.add_argument(
            "--outcome", action="append", default=[], help="journal rows with this outcome (repeatable)"
        )
        parser.add_argument("--since-id", type=int, default=None)
        parser.add_argument("--event", default="", help="journal rows of this event URN")
        parser.add_argument("--limit", type=int, default=10000)
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--dry-run", action="store_true", help="only list what would be replayed")
        parser.add_argument(
            "--require-keys", action="store_true", help="refuse files whose name carries no routing key"
        )

    def handle(self, *args, **opts):
        items = self._from_files(opts["paths"], opts) if opts["paths"] else self._from_journal(opts)
        if not items:
            raise CommandError("nothing to replay")
        self.stdout.write(f"replaying {len(items)} message(s)")
        if opts["dry_run"]:
            for item in items[:50]:
                self.stdout.write(f"  {item.routing_key} {len(item.body)} bytes")
            return
        total = BatchResult()
        size = max(1, opts["batch_size"])
        for start in range(0, len(items), size):
            total.merge(apply_batch(items[start : start + size]))
        counts = {}
        for o in total.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        for o in total.outcomes:
            if o.outcome in ("rejected", "failed"):
                self.stdout.write(f"  journal #{o.journal_id}: {o.outcome}: {o.reason}")
        self.stdout.write(self.style.SUCCESS(f"done: {counts}"))

    def _from_files(self, paths: list[str], opts) -> list[Incoming]:
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files.extend(sorted(p for p in path.iterdir() if p.suffix == ".xml" and not p.name.startswith("rest_")))
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{raw}: no such file or directory")
        items = []
        unkeyed: list[str] = []
        for path in files:
            body = path.read_bytes()
            key = routing_key_in_name(path.name)
            if key is None:
                # The wire's key is lost: build one from the XML. It cannot know the sport (the
                # XML does not carry it) and guesses priority and scope from the producer.
                unkeyed.append(path.name)
                try:
                    key = routing_key_for(body, sport_id=None)
                except UofError:
                    key = ""  # still replayed: the pipeline journals it as rejected with the reason
            items.append(Incoming(body=body, routing_key=key, source=FeedMessage.Source.FILE))
        if unkeyed:
            shown = ", ".join(unkeyed[:5]) + (f" and {len(unkeyed) - 5} more" if len(unkeyed) > 5 else "")
            self.stderr.write(
                self.style.WARNING(
                    f"{len(unkeyed)} of {len(files)} file(s) have no routing key in their name ({shown}): "
                    "their keys are built from the XML, without a sport id and with a guessed priority. "
                    "Name files after the key they were delivered with "
                    "(e.g. 0001_hi.pre.-.odds_change.1.sr:match.1234.-.xml) for a faithful replay."
                )
            )
        if opts["require_keys"] and unkeyed:
            raise CommandError("--require-keys: some files have no routing key in their name (listed above)")
        return items

    def _from_journal(self, opts) -> list[Incoming]:
        qs = FeedMessage.objects.order_by("id")
        if opts["ids"]:
            ids: list[int] = []
            for part in opts["ids"].split(","):
                if "-" in part:
                    lo, hi = part.split("-", 1)
                    ids.extend(range(int(lo), int(hi) + 1))
                elif part.strip():
                    ids.append(int(part))
            qs = qs.filter(id__in=ids)
        if opts["outcome"]:
            qs = qs.filter(outcome__in=opts["outcome"])
        if opts["since_id"] is not None:
            qs = qs.filter(id__gte=opts["since_id"])
        if opts["event"]:
            qs = qs.filter(event_urn=opts["event"])
        rows = list(qs.exclude(body=b"").values_list("id", "routing_key", "body")[: opts["limit"]])
        return [
            Incoming(body=bytes(body), routing_key=key, source=FeedMessage.Source.REPLAY, replay_of=pk)
            for pk, key, body in rows
        ]
