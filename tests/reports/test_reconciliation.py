"""Provider reconciliation: both providers' exports against the story's records (tests/reports/conftest.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from reports.models import ReconciliationDifference as Diff
from reports.models import ReconciliationRun as Run
from reports.reconciliation import services
from tests.reports.conftest import DAY1, DAY2, staff
from wallet.errors import InvalidRequest, PermissionDenied
from wallet.models import AuditLog, ReviewItem

BETSY_HEADER = "transactionId,type,userId,currency,amount,createdAt\n"


def run(provider: str, text: str | bytes, actor, first: date = DAY1, last: date = DAY2) -> Run:
    data = text.encode() if isinstance(text, str) else text
    created = services.run_create(
        provider=provider, period_from=first, period_to=last, filename="export.csv", chunks=[data], actor=actor
    )
    return services.run_execute(created.pk)


@pytest.fixture
def fiona(db):
    return staff("fiona-rec", "Finance")


def test_igpx_export_that_agrees_has_no_difference(story, fiona, tmp_path, settings):
    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    lines = [
        "transaction_id,action,user_id,currency,amount,created_at",
        "i-b1,bet,alice,EUR,10.00,2026-11-01T21:00:00Z",
        "i-r1,result,alice,EUR,30.00,2026-11-01T23:00:00Z",
        "i-b2,bet,alice,EUR,5.00,2026-11-02T00:00:00Z",
        "i-r2,result,alice,EUR,0.00,2026-11-02T00:30:00Z",
        "i-b3,bet,alice,EUR,4,2026-11-02T01:00:00Z",
        "i-rb3,rollback,alice,EUR,4.00,2026-11-02T02:00:00Z",
        "i-b4,bet,alice,EUR,6.00,2026-11-02T10:50:00Z",
        "i-r4,result,alice,EUR,12.00,2026-11-02T11:10:00Z",
        "i-rb1,rollback,alice,EUR,30.00,2026-11-02T20:00:00Z",
    ]
    result = run("igpx", "\n".join(lines) + "\n", fiona)
    assert result.status == Run.Status.DONE, result.error
    assert list(Diff.objects.filter(run=result).values()) == []
    assert (result.lines_done, result.matched, result.differences) == (9, 9, 0)


def test_betsy_export_with_every_kind_of_difference(story, fiona, tmp_path, settings):
    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    text = BETSY_HEADER + (
        "d-b4,place,dave,USD,10.00,2026-11-01T20:00:00Z\n"
        "d-b4,rollback,dave,USD,25.00,2026-11-01T22:00:00Z\n"  # line 3: we say settled
        "c-b1,place,carol,USD,25.00,2026-11-02T07:00:00Z\n"
        "c-b1,resettle,carol,USD,40.00,2026-11-02T10:30:00Z\n"
        "c-b1,rollback,carol,USD,25.00,2026-11-02T14:00:00Z\n"
        "c-b2,place,carol,USD,12.00,2026-11-02T10:40:00Z\n"  # line 7: we took 10
        "c-b2,settle,carol,USD,0.00,2026-11-02T13:00:00Z\n"
        "c-b2,unsettle,carol,EUR,30.00,2026-11-02T12:00:00Z\n"  # line 9: we paid in USD
        "x-999,place,carol,USD,5.00,2026-11-02T12:00:00Z\n"  # line 10: we never saw it
        "d-b5,place,dave,USD,8.00,2026-11-02T15:00:00Z\n"  # the vip brand's bet: matches
        "d-b5,settle,dave,USD,0.00,2026-11-02T16:00:00Z\n"
        # c-b3 (placed 2026-11-03 02:30 local) is not in their file
    )
    result = run("betsy", text, fiona)
    assert result.status == Run.Status.DONE, result.error
    assert (result.lines_done, result.matched) == (11, 7)
    found = {(d.kind, d.transaction_id, d.line) for d in Diff.objects.filter(run=result)}
    assert found == {
        (Diff.Kind.TYPE, "d-b4", 3),
        (Diff.Kind.AMOUNT, "c-b2", 7),
        (Diff.Kind.CURRENCY, "c-b2", 9),
        (Diff.Kind.MISSING_OURS, "x-999", 10),
        (Diff.Kind.MISSING_THEIRS, "c-b3", None),
    }
    typed = Diff.objects.get(run=result, kind=Diff.Kind.TYPE)
    assert (typed.their_type, typed.our_type, typed.our_amount) == ("rollback", "settle", Decimal("25"))
    amount = Diff.objects.get(run=result, kind=Diff.Kind.AMOUNT)
    assert (amount.their_amount, amount.our_amount) == (Decimal("12"), Decimal("10"))
    assert Diff.objects.get(run=result, kind=Diff.Kind.MISSING_THEIRS).our_amount == Decimal("35")

    # Each difference is resolved with an audited note, or sent to the review queue.
    services.difference_resolve(diff_id=amount.pk, actor=fiona, note="Betsy confirmed a display bug in their export")
    assert AuditLog.objects.filter(action="reconciliation.resolve", object_id=str(amount.pk)).exists()
    with pytest.raises(InvalidRequest, match="already resolved"):
        services.difference_resolve(diff_id=amount.pk, actor=fiona, note="twice is not allowed")
    missing = Diff.objects.get(run=result, kind=Diff.Kind.MISSING_OURS)
    services.difference_to_review(diff_id=missing.pk, actor=fiona)
    missing.refresh_from_db()
    assert missing.status == Diff.Status.REVIEW
    assert "x-999" in missing.review_item.summary and missing.review_item.status == ReviewItem.Status.OPEN
    # Its own kind in the queue (not "provider result disagrees with Betradar"), with the
    # provider and currency the queue filters on.
    item = missing.review_item
    assert (item.kind, item.get_kind_display()) == ("reconciliation", "Provider reconciliation difference")
    assert (item.provider, item.currency) == ("betsy", missing.their_currency)
    from wallet.dashboard import review_rules_today

    rules = {m.key: m for m in review_rules_today()}
    assert rules["review_rule_reconciliation"].label == "today: provider reconciliation difference"
    assert "kind__exact=reconciliation" in rules["review_rule_reconciliation"].url
    with pytest.raises(InvalidRequest):
        services.difference_resolve(diff_id=typed.pk, actor=fiona, note="ok")  # a note of a few words

    support = staff("sam-rec", "Support")
    with pytest.raises(PermissionDenied):
        services.difference_resolve(diff_id=typed.pk, actor=support, note="I may only read statements")


BAD_FILES = [
    (
        "wrong encoding",
        (BETSY_HEADER + "d-b4,place,dave,USD,10.00,\n").encode()
        + "c-b1,place,carol,USD,25.00,Zürich\n".encode("latin-1"),
        "line 3: not UTF-8 text (byte 0xfc",
    ),
    (
        "missing column",
        "transactionId,type,userId,currency,createdAt\nd-b4,place,dave,USD,\n",
        "line 1: missing column(s) amount",
    ),
    (
        "duplicate id",
        BETSY_HEADER + "d-b4,place,dave,USD,10,\nc-b1,place,carol,USD,25,\nd-b4,1,dave,USD,10,\n",
        "line 4: duplicate transaction id 'd-b4' (bet), first on line 2",
    ),
    (
        "precision",
        BETSY_HEADER + "d-b4,place,dave,USD,10.00,\nc-b1,place,carol,USD,25.001,\n",
        "line 3: amount has more decimal places than USD allows (2)",
    ),
    ("negative", BETSY_HEADER + "d-b4,place,dave,USD,-10.00,\n", "line 2: amount must not be negative"),
    ("unknown type", BETSY_HEADER + "d-b4,cashout,dave,USD,10.00,\n", "line 2: unknown type 'cashout'"),
    ("bad time", BETSY_HEADER + "d-b4,place,dave,USD,10.00,yesterday\n", "line 2: time 'yesterday' is not ISO 8601"),
    ("short line", BETSY_HEADER + "d-b4,place,dave,USD\n", "line 2: 4 fields, the header has 6"),
    ("empty", "", "line 1: the file is empty"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_naming_the_line(story, fiona, tmp_path, settings, name, content, message):
    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    result = run("betsy", content, fiona)
    assert result.status == Run.Status.FAILED
    assert result.error.startswith(message), result.error
    assert not Diff.objects.filter(run=result).exists()  # nothing half-done


def test_column_mapping_is_configuration(story, fiona, tmp_path, settings):
    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    settings.REPORT_RECONCILIATION_COLUMNS = (
        '{"betsy": {"columns": {"transaction_id": "Ticket", "amount": "Sum"}, "types": {"wager": "bet"}}}'
    )
    text = "Ticket,type,userId,currency,Sum,createdAt\nd-b4,wager,dave,USD,10.00,\n"
    result = run("betsy", text, fiona, first=date(2026, 11, 2), last=date(2026, 11, 2))
    assert result.status == Run.Status.DONE, result.error
    assert result.matched == 1


def test_command_shows_progress_and_stores_it_on_the_run(story, fiona, tmp_path, settings, capsys):
    settings.REPORT_UPLOAD_DIR = str(tmp_path / "uploads")
    export = tmp_path / "betsy.csv"
    export.write_text(BETSY_HEADER + "d-b4,place,dave,USD,10.00,\n")
    call_command("reconcile", "betsy", str(export), "--from", "2026-11-02", "--to", "2026-11-03", "--user", "fiona-rec")
    out = capsys.readouterr()
    assert "1 lines, 1 matched" in out.out
    assert "line" in out.err  # the progress bar
    latest = Run.objects.latest("id")
    assert (latest.lines_total, latest.lines_done, latest.progress_percent) == (1, 1, 100)


def test_admin_upload_runs_and_lists_differences_with_actions(story, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    client = Client()
    client.force_login(staff("fiona-adm", "Finance"))
    upload = SimpleUploadedFile("betsy.csv", (BETSY_HEADER + "x-1,place,carol,USD,5.00,\n").encode())
    reply = client.post(
        "/admin/reports/reconciliationrun/add/",
        {"provider": "betsy", "period_from": "2026-11-02", "period_to": "2026-11-03", "file": upload},
    )
    assert reply.status_code == 302, reply.content.decode()[:2000]
    page = client.get(reply["Location"]).content.decode()
    assert "Done" in page and "Missing on our side" in page and "5.00 USD" in page
    diff = Diff.objects.get(transaction_id="x-1")
    client.post(reply["Location"], {"difference": diff.pk, "action": "resolve", "note": "test ticket on their side"})
    diff.refresh_from_db()
    assert diff.status == Diff.Status.RESOLVED and diff.resolved_by.username == "fiona-adm"
    bad = SimpleUploadedFile("bad.csv", b"transactionId,type\n")
    reply = client.post(
        "/admin/reports/reconciliationrun/add/",
        {"provider": "betsy", "period_from": "2026-11-02", "period_to": "2026-11-03", "file": bad},
    )
    assert (
        "line 1: missing column(s) userId, currency, amount, createdAt"
        in client.get(reply["Location"]).content.decode()
    )


def test_an_unexpected_error_fails_the_run_instead_of_leaving_it_running(db, tmp_path, settings, monkeypatch):
    settings.REPORT_UPLOAD_DIR = str(tmp_path)
    fiona = staff("fiona-err", "Finance")
    created = services.run_create(
        provider="betsy",
        period_from=DAY1,
        period_to=DAY2,
        filename="x.csv",
        chunks=[BETSY_HEADER.encode()],
        actor=fiona,
    )

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.matching, "our_records", broken)
    with pytest.raises(RuntimeError):
        services.run_execute(created.pk)
    created.refresh_from_db()
    assert created.status == Run.Status.FAILED and "internal error (RuntimeError)" in created.error
