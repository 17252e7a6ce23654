"""Services: create a reconciliation run, execute it (Celery task or command), resolve differences."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reports.models import ReconciliationDifference as Diff
from reports.models import ReconciliationRun as Run
from reports.reconciliation import csvfile, matching
from reports.rollups import day_bounds
from wallet.errors import InvalidRequest
from wallet.models import Player, ReviewItem
from wallet.permissions import reason_required, require
from wallet.services.audit import audit_record
from wallet.services.reviews import review_flag

PERMISSION = "reports.reconcile"
PROGRESS_EVERY = 5000


def upload_dir() -> Path:
    path = Path(getattr(settings, "REPORT_UPLOAD_DIR", "") or Path(settings.BASE_DIR) / "var" / "reconciliation")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_create(*, provider: str, period_from: date, period_to: date, filename: str, chunks, actor) -> Run:
    """Store the uploaded file (chunks of bytes) and create the run; execution is separate."""
    require(actor, PERMISSION)
    if provider not in csvfile.providers():
        raise InvalidRequest(f"unknown provider {provider!r}; configured: {', '.join(csvfile.providers())}")
    if period_to < period_from:
        raise InvalidRequest("the period ends before it starts")
    target = upload_dir() / f"{uuid.uuid4().hex}.csv"
    with target.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    with transaction.atomic():
        run = Run.objects.create(
            provider=provider,
            period_from=period_from,
            period_to=period_to,
            filename=filename[:255],
            stored_path=str(target),
            created_by=actor,
        )
        audit_record(actor_id=actor.pk, action="reconciliation.upload", obj=run, data={"file": filename})
    return run


def run_execute(run_id: int, *, progress: Callable[[int, int], None] | None = None) -> Run:
    """Parse the file streaming, match it against our records, store the differences.

    Progress (lines done / total) is written on the run every PROGRESS_EVERY lines, outside any
    transaction, so the admin page can show it. Differences are written in one transaction at
    the end: a refused file leaves no differences behind, only the run's error."""
    started = time.monotonic()
    run = Run.objects.get(pk=run_id)
    path = Path(run.stored_path)
    start, _ = day_bounds(run.period_from)
    _, end = day_bounds(run.period_to)
    with path.open("rb") as stream:
        total = csvfile.count_lines(stream)
        Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, lines_total=total, lines_done=0, error="")
        try:
            mapping = csvfile.mapping_for(run.provider)
            matcher = matching.Matcher(matching.our_records(run.provider, start, end))
            done = 0
            for line in csvfile.read(stream, mapping):
                matcher.add(line)
                done += 1
                if done % PROGRESS_EVERY == 0:
                    Run.objects.filter(pk=run.pk).update(lines_done=done)
                    if progress:
                        progress(done, total)
            outcome = matcher.finish(lambda ids: matching.our_records(run.provider, start, end, ids=ids))
        except csvfile.FileRefused as refused:
            return _failed(run.pk, str(refused), started)
        except Exception as exc:
            # Never leave a run "running" forever: staff see why, on-call gets the traceback.
            _failed(run.pk, f"internal error ({type(exc).__name__}); the run can be uploaded again", started)
            raise
    with transaction.atomic():
        for diff in outcome.differences:
            diff.run_id = run.pk
        Diff.objects.bulk_create(outcome.differences, batch_size=2000)
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.DONE,
            lines_done=done,
            matched=outcome.matched,
            differences=len(outcome.differences),
            finished_at=timezone.now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    if progress:
        progress(done, total)
    return Run.objects.get(pk=run.pk)


def _failed(run_id: int, error: str, started: float) -> Run:
    Run.objects.filter(pk=run_id).update(
        status=Run.Status.FAILED,
        error=error,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return Run.objects.get(pk=run_id)


def _lock_open(diff_id: int) -> Diff:
    diff = Diff.objects.select_for_update().select_related("run").get(pk=diff_id)
    if diff.status != Diff.Status.OPEN:
        raise InvalidRequest(f"difference #{diff.pk} is already {diff.get_status_display().lower()}")
    return diff


@transaction.atomic
def difference_resolve(*, diff_id: int, actor, note: str) -> Diff:
    """Close a difference with an explanation (audited)."""
    require(actor, PERMISSION)
    diff = _lock_open(diff_id)
    diff.note = reason_required(note)
    diff.status = Diff.Status.RESOLVED
    diff.resolved_by = actor
    diff.resolved_at = timezone.now()
    diff.save(update_fields=["note", "status", "resolved_by", "resolved_at"])
    audit_record(
        actor_id=actor.pk,
        action="reconciliation.resolve",
        obj=diff,
        reason=diff.note,
        data={"run": diff.run_id, "kind": diff.kind, "transaction": diff.transaction_id},
    )
    return diff


@transaction.atomic
def difference_to_review(*, diff_id: int, actor, note: str = "") -> Diff:
    """Hand a difference to the settlement review queue (wallet.services.reviews)."""
    require(actor, PERMISSION)
    diff = _lock_open(diff_id)
    summary = (
        f"{diff.run.provider} reconciliation: {diff.get_kind_display().lower()} {diff.transaction_id}"
        f" (theirs {diff.their_type or '-'} {diff.their_amount if diff.their_amount is not None else '-'}"
        f" {diff.their_currency}, ours {diff.our_type or '-'}"
        f" {diff.our_amount if diff.our_amount is not None else '-'} {diff.our_currency})"
    )
    player = Player.objects.filter(external_id=diff.player).only("id").first() if diff.player else None
    # Provider and currency too, so the queue's filters find it like any other item.
    item = review_flag(
        kind=ReviewItem.Kind.RECONCILIATION,
        summary=summary,
        player=player,
        provider=diff.run.provider,
        currency=diff.our_currency or diff.their_currency,
        amount=diff.their_amount if diff.their_amount is not None else diff.our_amount,
    )
    diff.review_item = item
    diff.status = Diff.Status.REVIEW
    diff.note = (note or "").strip()
    diff.resolved_by = actor
    diff.resolved_at = timezone.now()
    diff.save(update_fields=["review_item", "status", "note", "resolved_by", "resolved_at"])
    audit_record(
        actor_id=actor.pk,
        action="reconciliation.to_review",
        obj=diff,
        reason=diff.note,
        data={"run": diff.run_id, "review_item": item.pk},
    )
    return diff
