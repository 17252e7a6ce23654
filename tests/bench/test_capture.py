"""The pgbench script the wallet benchmarks generate from captured statements (bench/_capture.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench._capture import ID_FLOOR, CaptureError, Recorder, Script, Statement, _renamed, _split_with

PLAYER, ACCOUNT, BET = ID_FLOOR + 7, 2 * ID_FLOOR + 7, 3 * ID_FLOOR + 1


def script() -> Script:
    return Script(None, {PLAYER: ("pid", ":pid0 + :n"), ACCOUNT: ("aid", ":aid0 + :n")}, {"700001": "ext"})


def test_a_round_becomes_pgbench_lines_with_round_values_as_variables() -> None:
    s = script()
    s.tokens({"912345678901234567": "t_tx"})
    lines = s.round(
        [
            Statement("BEGIN", command=True),
            Statement(
                "INSERT INTO wallet_bet (provider, external_id, player_id, stake) VALUES (%s, %s, %s, %s) RETURNING id",
                ["betsy", "912345678901234567", PLAYER, Decimal("5.00")],
                ["id"],
                [(BET,)],
            ),
            Statement(
                "UPDATE wallet_idempotencyrecord SET response = %s, error_code = %s WHERE id = %s AND note IS %s",
                [f'{{"transactionId":"{BET}"}}', "", BET, None],
            ),
            Statement("COMMIT", command=True),
        ]
    )
    assert lines[0] == "BEGIN;"
    assert lines[1] == (
        "INSERT INTO wallet_bet (provider, external_id, player_id, stake) VALUES (:c0, :t_tx, :pid::int8,"
        " :c1::numeric) RETURNING id \\aset r1_"
    )
    # The id the round's own insert returned is read back; the text around it is a constant.
    assert lines[2] == (
        "UPDATE wallet_idempotencyrecord SET response = (:c2::text || :r1_id::text || :c3::text), error_code = ''"
        " WHERE id = :r1_id::int8 AND note IS NULL;"
    )
    assert lines[3] == "END;"
    assert s.defines == {"c0": "betsy", "c1": "5.00", "c2": '{"transactionId":"', "c3": '"}'}


def test_a_result_column_pgbench_cannot_name_is_renamed() -> None:
    lines = script().round(
        [
            Statement("WITH a AS (SELECT 1) SELECT (SELECT %s), %s", [1, 2], ["?column?", "?column?"], [(BET, BET)]),
            Statement("SELECT %s", [BET], ["x"], [(1,)]),
        ]
    )
    assert lines[0] == (
        "WITH a AS (SELECT 1), q_ AS (SELECT (SELECT :c0::int2), :c1::int2) SELECT * FROM q_ AS q__(c0, c1) \\aset r0_"
    )
    assert lines[1] == "SELECT :r0_c0::int8;"


def test_renaming_keeps_data_modifying_statements_at_the_top_level() -> None:
    assert _renamed("INSERT INTO t VALUES (1) RETURNING id", 1) == (
        "WITH q_ AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM q_ AS q__(c0)"
    )
    assert _renamed("SELECT a, a FROM t", 2) == "SELECT * FROM (SELECT a, a FROM t) AS q_(c0, c1)"
    assert _split_with("WITH a AS (SELECT ')'), b AS (SELECT 2) SELECT * FROM a") == (
        "WITH a AS (SELECT ')'), b AS (SELECT 2)",
        "SELECT * FROM a",
    )


def test_a_statement_pgbench_would_misread_is_refused() -> None:
    with pytest.raises(CaptureError, match="as a variable"):
        script().round([Statement("SELECT 'a:b' || %s", ["x"])])
    with pytest.raises(CaptureError, match="placeholders"):
        script().round([Statement("SELECT %s, %s", ["x"])])


def test_the_script_picks_a_branch_by_weight_and_declines_on_request() -> None:
    s = script()
    s.prefix("declined", [Statement("SELECT 1")], 1)
    s.branch("won", 75, [Statement("SELECT 2")], 2)
    s.branch("lost", 25, [Statement("SELECT 3")], 4)
    text = s.text("header")
    assert "\\if :pre <= :decl\nSELECT 1;\n\\endif" in text
    assert "\\if :pick <= 75000\n-- won\nSELECT 2;\n\\else\n-- lost\nSELECT 3;\n\\endif" in text
    assert "\\set pid :pid0 + :n" in text
    assert s.requests_per_round() == (2.5, 1)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_recorder_sees_what_psycopg_sends(postgres_only) -> None:
    from django.db import connection

    recorder = Recorder()
    recorder.install()
    try:
        with recorder.recording() as statements, connection.cursor() as cursor:
            cursor.execute("SELECT %s::int AS answer", [42])
            assert cursor.fetchone() == (42,)  # the recorder left the rows to their reader
    finally:
        recorder.uninstall()
    # psycopg's own BEGIN (the test's transaction starts here) is recorded too.
    assert [(s.sql, s.params, s.names, s.rows, s.command) for s in statements] == [
        ("BEGIN", [], [], [], True),
        ("SELECT %s::int AS answer", [42], ["answer"], [(42,)], False),
    ]
    assert connection.connection.cursor_factory is not None and "_exec_command" not in vars(connection.connection)


def test_no_aset_statement_is_pgbench_s_128th_command() -> None:
    """pgbench 15 overflows its command array when command 128 carries an \\aset (bench/_capture)."""
    from bench._capture import _padded

    lines = ["-- a comment is no command", "BEGIN;"] + ["SELECT 1;"] * 126 + ["SELECT 2 AS id \\aset r1_", "END;"]
    padded = _padded(lines)
    commands = [line for line in padded if line.strip() and not line.startswith("--")]
    assert commands[127] == "\\set pgbench_slot_pad 0" and commands[128] == "SELECT 2 AS id \\aset r1_"
    assert _padded(lines[:-2] + ["SELECT 3;", "SELECT 2 AS id \\aset r1_"]) == lines[:-2] + [
        "SELECT 3;",
        "SELECT 2 AS id \\aset r1_",
    ]


def test_a_statement_sent_with_its_commit_is_piped_with_it_in_pgbench() -> None:
    lines = script().round(
        [
            Statement("BEGIN", command=True),
            Statement("SELECT 1 AS one", [], ["one"], [(1,)]),
            Statement("UPDATE t SET note = %s WHERE id = %s", ["x", 5], piped=True),
            Statement("COMMIT", command=True, piped=True),
        ]
    )
    assert lines == [
        "BEGIN;",
        "SELECT 1 AS one;",
        "\\startpipeline",
        "UPDATE t SET note = :c0 WHERE id = :c1::int2;",
        "END;",
        "\\endpipeline",
    ]


def _opening(sql: str, params: list, names: list[str], rows: list[tuple]) -> list[Statement]:
    return [Statement("BEGIN", command=True, opens=True), Statement(sql, params, names, rows, opens=True)]


def test_begin_sent_with_a_transaction_s_first_statement_is_piped_with_it_in_pgbench() -> None:
    lines = script().round(
        [
            *_opening("INSERT INTO t VALUES (%s) RETURNING id", [PLAYER], ["id"], [(BET,)]),
            Statement("UPDATE t SET note = 'x' WHERE player = %s", [PLAYER], piped=True),
            Statement("COMMIT", command=True, piped=True),
        ]
    )
    assert lines == [
        "\\startpipeline",
        "BEGIN;",
        "INSERT INTO t VALUES (:pid::int8) RETURNING id;",  # nothing reads its rows back
        "\\endpipeline",
        "\\startpipeline",
        "UPDATE t SET note = 'x' WHERE player = :pid::int8;",
        "END;",
        "\\endpipeline",
    ]


def test_a_first_statement_whose_rows_are_used_takes_its_begin_from_the_previous_end() -> None:
    """pgbench allows no \\aset in a pipeline: BEGIN then rides with the previous transaction's end,
    in the same number of round trips as the server's."""
    first = [
        *_opening("SELECT %s AS a", [PLAYER], ["a"], [(PLAYER,)]),
        Statement("UPDATE t SET a = 1 WHERE p = %s", [PLAYER], piped=True),
        Statement("COMMIT", command=True, piped=True),
    ]

    def second(bet: int) -> list[Statement]:
        return [
            *_opening("INSERT INTO s VALUES (%s) RETURNING id", [PLAYER], ["id"], [(bet,)]),
            Statement("UPDATE s SET b = 2 WHERE id = %s", [bet], piped=True),
            Statement("COMMIT", command=True, piped=True),
        ]

    repeat = [*_opening("SELECT %s AS r", [PLAYER], ["r"], [(PLAYER,)]), Statement("COMMIT", command=True)]
    lines = script().round(first + second(BET) + repeat + second(BET + 1))
    assert lines == [
        "\\startpipeline",
        "BEGIN;",
        "SELECT :pid::int8 AS a;",
        "\\endpipeline",
        "\\startpipeline",
        "UPDATE t SET a = 1 WHERE p = :pid::int8;",
        "END;",
        "BEGIN;",  # the second transaction's
        "\\endpipeline",
        "INSERT INTO s VALUES (:pid::int8) RETURNING id \\aset r5_",
        "\\startpipeline",
        "UPDATE s SET b = 2 WHERE id = :r5_id::int8;",
        "END;",
        "\\endpipeline",
        "\\startpipeline",
        "BEGIN;",
        "SELECT :pid::int8 AS r;",
        "\\endpipeline",
        "\\startpipeline",  # a lone END takes the next BEGIN into a pipeline of its own
        "END;",
        "BEGIN;",
        "\\endpipeline",
        "INSERT INTO s VALUES (:pid::int8) RETURNING id \\aset r12_",
        "\\startpipeline",
        "UPDATE s SET b = 2 WHERE id = :r12_id::int8;",
        "END;",
        "\\endpipeline",
    ]
    with pytest.raises(CaptureError, match="round's first transaction"):
        script().round(second(BET))
