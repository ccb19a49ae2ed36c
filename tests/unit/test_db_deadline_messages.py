"""The one-line messages built from the in-pod watchdog's report and pg_restore's/psql's stderr
(no cluster: the e2e tests in tests/e2e/test_db_deadlines.py drive the real thing), and the
relations a plain dump creates, as a restore compares them with the database."""

from __future__ import annotations

from tripgenctl.ops import archive, postgres

BLOCKER = "TRIPGENCTL-BLOCKER 4242\tapp_user\tbilling-worker\tidle in transaction\t2026-12-01T08:00:00Z\t3"


def test_a_cancelled_lock_wait_names_the_blocking_session_and_the_relation():
    stderr = "\n".join([
        BLOCKER,
        "TRIPGENCTL-LOCKCANCEL 777",
        "pg_restore: error: could not execute query: ERROR:  canceling statement due to user request",
        "Command was: DROP TABLE IF EXISTS public.users;",
    ])
    line = postgres.lock_message(stderr, 5, 900)
    assert line == ("waited 5s for a lock on public.users, blocked by session pid 4242 (user app_user, application billing-worker, "
                    "state idle in transaction, since 2026-12-01T08:00:00Z): end that session or retry when it is done "
                    "(the limit is [timeouts] lock_wait)")


def test_a_native_lock_timeout_without_a_named_blocker_says_so():
    stderr = "pg_dump: error: query failed: ERROR:  canceling statement due to lock timeout\npg_dump: detail: Query was: LOCK TABLE public.trips IN ACCESS SHARE MODE"
    assert postgres.lock_message(stderr, 2.5, 900) == (
        "a lock on public.trips was not granted within 2.5s ([timeouts] lock_wait); the blocking session ended before it could be named")


def test_pg_dumps_lock_wait_timeout_is_a_lock_wait_though_it_says_statement_timeout():
    """pg_dump enforces --lock-wait-timeout with statement_timeout around its LOCK TABLEs (the
    backup's counts run beside it, so its message can be the one that arrives)."""
    stderr = "\n".join([
        BLOCKER,
        "pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout",
        "pg_dump: detail: Query was: LOCK TABLE public.users IN ACCESS SHARE MODE",
    ])
    line = postgres.lock_message(stderr, 4, 900)
    assert line.startswith("waited 4s for a lock on public.users, blocked by session pid 4242 (user app_user"), line
    alone = "pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout\npg_dump: detail: Query was: LOCK TABLE public.trips IN ACCESS SHARE MODE"
    assert postgres.lock_message(alone, 2.5, 900).startswith("a lock on public.trips was not granted within 2.5s")


def test_statement_deadlines_and_other_errors():
    assert "longer than the 60s limit" in postgres.lock_message("TRIPGENCTL-SLOW 12\t61\nERROR:  canceling statement due to user request", 5, 60)
    assert "longer than the 60s limit" in postgres.lock_message("ERROR:  canceling statement due to statement timeout", 5, 60)
    assert postgres.lock_message("ERROR:  duplicate key value violates unique constraint", 5, 60) is None
    assert postgres.lock_message(BLOCKER + "\nERROR:  relation does not exist", 5, 60) is None  # a blocker seen, but not why it failed


def test_plain_dump_relations(tmp_path):
    dump = tmp_path / "d.sql"
    dump.write_text("\n".join([
        "CREATE TABLE public.trips (",
        "    id integer NOT NULL",
        ");",
        'CREATE TABLE "Odd Schema"."My ""Table""" (',
        "CREATE SEQUENCE public.trips_id_seq",
        "CREATE VIEW public.recent AS",
        "CREATE MATERIALIZED VIEW public.stats AS",
        "ALTER TABLE public.users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (",
        "    SEQUENCE NAME public.users_id_seq",
        "-- CREATE TABLE public.commented (",
        "-- PostgreSQL database dump complete",
    ]) + "\n")
    assert archive.relations(dump, "plain") == {
        ("table", "public.trips"), ("table", 'Odd Schema.My "Table"'), ("sequence", "public.trips_id_seq"),
        ("view", "public.recent"), ("materialized view", "public.stats"), ("sequence", "public.users_id_seq"),
    }
