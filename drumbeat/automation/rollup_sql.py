"""The triggers that keep the roll-up tables (automation/rollup_models.py), for PostgreSQL and
SQLite, and the backfill from existing rows; installed by migrations automation 0009, 0010, 0012,
0013, 0014, 0016, 0017 and 0018.

Every roll-up is described once (`ROLLUPS`): its source table, its key and counter
expressions over a source row `{r}`, the rows it counts (`where`) and the source columns
whose change can move a row between keys (`watch`, used by SQLite's UPDATE triggers).

- PostgreSQL: one statement-level trigger per source table and operation, with transition
  tables (REFERENCING NEW TABLE / OLD TABLE): a statement appends one row per key it changed,
  the old rows counted negatively and the new ones positively, keys whose net is zero left
  out. An UPDATE that moves no row between keys (a lease renewal) appends nothing.
- SQLite: row-level triggers adding into one row per key (upsert on a unique index that only
  SQLite gets: PostgreSQL appends without it).

A bulk UPDATE of the engine may instead add the counts it moved itself, from the batch it
already holds (`paused` and `add_counts` in automation/rollups.py): on SQLite a grouped
statement in place of a trigger call per row, on PostgreSQL in place of the trigger's
grouping of the old and the new rows. The UPDATE triggers skip their work while paused:
SQLite's while the table `automation_rollup_pause` has a row, which only that transaction
ever sees (SQLite has one writer at a time, and the row is deleted before the commit);
PostgreSQL's (from version 4) while the transaction's setting `drumbeat.rollup_paused` is
`on` (SET LOCAL: no other session sees it, and it ends with the transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

from .rollup_models import SLOT_SECONDS


@dataclass(frozen=True)
class Rollup:
    name: str  # short name, in trigger and function names
    source: str
    target: str
    keys: tuple[tuple[str, str], ...]  # (column, expression over {r})
    counters: tuple[tuple[str, str], ...]  # (column, integer expression over {r})
    where: str  # which source rows count ({r}); "TRUE" for all
    watch: tuple[str, ...]
    # False: the triggers and the backfill are written apart (`conversion` below, a figure
    # across two tables); the spec still names the table's key and counters for compaction.
    generic: bool = True


def _slot(vendor: str) -> str:
    if vendor == "postgresql":
        epoch = f"floor(extract(epoch FROM {{r}}.executed_at) / {SLOT_SECONDS})::bigint"
    else:
        epoch = f"(CAST(strftime('%s', {{r}}.executed_at) AS INTEGER) / {SLOT_SECONDS})"
    return (
        "CASE WHEN {r}.state IN ('processed', 'rejected') AND {r}.executed_at IS NOT NULL"
        f" THEN {epoch} ELSE 0 END"
    )


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


# The roll-ups as migrations have installed them: 1 (automation 0009, 0010); 2 (0012) counts
# the traces a person opened and clicked too, and the contact-pressure events; 3 (0013) the
# conversions after each activity; 4 (0014) lets PostgreSQL's UPDATE triggers be paused too;
# 5 (0016) counts the split assignments; 6 (0017) keeps each assignment's counters of the
# traces and messages under its split and sums them in the assignment roll-up; 7 (0018) finds
# the participants whose conversion or test flag an UPDATE changed in linear time on PostgreSQL
# (`assignment_participant_function`).
# A migration names the version it installs, so it keeps doing what it did when later
# versions add to it.
LATEST = 7
# PostgreSQL: the transaction-local setting that pauses the UPDATE triggers (version 4 on).
PAUSE_SETTING = "drumbeat.rollup_paused"
_PAUSED = f"IF TG_OP = 'UPDATE' AND current_setting('{PAUSE_SETTING}', true) = 'on' THEN"


def rollups(vendor: str, version: int = LATEST) -> list[Rollup]:
    true = "TRUE" if vendor == "postgresql" else "1"
    false = "FALSE" if vendor == "postgresql" else "0"
    people = version >= 2  # the trace roll-up counts people's opens and clicks from 2 on
    specs = [
        Rollup(
            name="trace",
            source="automation_trace",
            target="automation_trace_rollup",
            keys=(
                ("activity_id", "{r}.activity_id"),
                ("state", "{r}.state"),
                ("is_test", "{r}.is_test"),
                ("slot", _slot(vendor)),
            ),
            counters=(
                ("n", "1"),
                *(
                    (
                        ("human_opened", _flag("{r}.human_opened_at IS NOT NULL")),
                        ("human_clicked", _flag("{r}.human_clicked_at IS NOT NULL")),
                    )
                    if people
                    else ()
                ),
            ),
            where=true,
            watch=(
                "activity_id",
                "state",
                "is_test",
                "executed_at",
                *(("human_opened_at", "human_clicked_at") if people else ()),
            ),
        ),
        Rollup(
            name="participant",
            source="automation_participant",
            target="automation_participant_rollup",
            keys=(
                ("campaign_id", "{r}.campaign_id"),
                ("state", "{r}.state"),
                ("is_test", "{r}.is_test"),
                ("converted", "({r}.converted_at IS NOT NULL)"),
            ),
            counters=(("n", "1"),),
            where=true,
            watch=("campaign_id", "state", "is_test", "converted_at"),
        ),
        Rollup(
            name="message",
            source="mailing_message",
            target="automation_message_rollup",
            keys=(("activity_id", "{r}.activity_id"), ("is_test", "{r}.is_test")),
            counters=(
                ("sent", _flag("{r}.state IN ('sent', 'bounced')")),
                ("opened", _flag("{r}.opened_at IS NOT NULL")),
                ("clicked", _flag("{r}.clicked_at IS NOT NULL")),
                ("replied", _flag("{r}.replied_at IS NOT NULL")),
                ("bounced", _flag("{r}.bounced_at IS NOT NULL")),
                ("complained", _flag("{r}.complained_at IS NOT NULL")),
            ),
            where="{r}.activity_id IS NOT NULL",
            watch=(
                "activity_id",
                "is_test",
                "state",
                "opened_at",
                "clicked_at",
                "replied_at",
                "bounced_at",
                "complained_at",
            ),
        ),
        Rollup(
            name="click",
            source="mailing_click",
            target="automation_click_rollup",
            keys=(
                ("link_id", "{r}.link_id"),
                (
                    "campaign_id",
                    "COALESCE((SELECT m.campaign_id FROM mailing_message m"
                    " WHERE m.id = {r}.message_id), 0)",
                ),
                (
                    "is_test",
                    f"COALESCE((SELECT m.is_test FROM mailing_message m"
                    f" WHERE m.id = {{r}}.message_id), {false})",
                ),
                ("is_machine", "{r}.is_machine"),
            ),
            counters=(("n", "1"),),
            where=true,
            watch=("link_id", "message_id", "is_machine"),
        ),
    ]
    if version >= 2:
        specs.append(
            Rollup(
                name="pressure",
                source="automation_pressureevent",
                target="automation_pressure_rollup",
                keys=(("activity_id", "{r}.activity_id"), ("kind", "{r}.kind")),
                counters=(("n", "1"),),
                where=true,
                watch=("activity_id", "kind"),
            )
        )
    if version >= 3:
        specs.append(
            Rollup(
                name="conversion",
                source="automation_trace",
                target="automation_conversion_rollup",
                keys=(("activity_id", "{r}.activity_id"),),
                counters=(("n", "1"),),
                where="{r}.state = 'processed' AND NOT {r}.is_test",
                watch=("activity_id", "participant_id", "state", "is_test", "executed_at"),
                generic=False,
            )
        )
    if version >= 5:
        specs.append(
            Rollup(
                name="assignment",
                source="automation_splitassignment",
                target="automation_assignment_rollup",
                # {r}: the assignment; p: its participant (joined by the triggers).
                keys=(
                    ("split_id", "{r}.split_id"),
                    ("branch", "{r}.branch"),
                    ("randomized", "{r}.randomized"),
                    ("is_test", "p.is_test"),
                    ("phase", _phase("{r}", "p")),
                ),
                counters=(("n", "1"), *(_SPLIT_COUNTERS if version >= 6 else ())),
                where=true,
                watch=(
                    "participant_id",
                    "split_id",
                    "branch",
                    "randomized",
                    "assigned_at",
                    *(column for column, _ in _SPLIT_COUNTERS[:4] if version >= 6),
                ),
                generic=False,
            )
        )
    return specs


# From version 6 the assignment roll-up also sums each assignment's counters (kept by the
# triggers of `_split_counters_install`) and counts those with a click: people who clicked.
_SPLIT_COUNTERS = (
    ("sends", "{r}.sends"),
    ("opened", "{r}.opened"),
    ("opens", "{r}.opens"),
    ("clicks", "{r}.clicks"),
    ("clickers", _flag("{r}.clicks > 0")),
)


def _select(rollup: Rollup, alias: str, sign: str) -> str:
    keys = ", ".join(f"{expr.format(r=alias)} AS {col}" for col, expr in rollup.keys)
    counters = ", ".join(
        f"{sign}({expr.format(r=alias)}) AS {col}" for col, expr in rollup.counters
    )
    return f"SELECT {keys}, {counters} FROM {{table}} {alias} WHERE {rollup.where.format(r=alias)}"


def _grouped(rollup: Rollup, parts: list[str]) -> str:
    keys = ", ".join(col for col, _ in rollup.keys)
    sums = ", ".join(f"sum({col})" for col, _ in rollup.counters)
    nonzero = " OR ".join(f"sum({col}) <> 0" for col, _ in rollup.counters)
    columns = ", ".join([*(col for col, _ in rollup.keys), *(col for col, _ in rollup.counters)])
    union = " UNION ALL ".join(parts)
    return (
        f"INSERT INTO {rollup.target} ({columns}) SELECT {keys}, {sums} FROM ({union}) d"
        f" GROUP BY {keys} HAVING {nonzero}"
    )


def backfill(vendor: str, version: int = LATEST, only: tuple[str, ...] = ()) -> list[str]:
    """Statements filling every roll-up (or those named in `only`) from the rows that exist
    (after emptying it)."""
    statements = []
    for rollup in rollups(vendor, version):
        if only and rollup.name not in only:
            continue
        statements.append(f"DELETE FROM {rollup.target}")
        if not rollup.generic:
            statements.append(_SPECIAL[rollup.name][0](version))
            continue
        part = _select(rollup, "r", "+").format(table=rollup.source)
        statements.append(_grouped(rollup, [part]))
    return statements


def _pg_pause(pausable: bool) -> str:
    """The first lines of a PostgreSQL trigger function that honours the pause."""
    if not pausable:
        return ""
    return f"""
    {_PAUSED}
        RETURN NULL;  -- the engine adds what this statement moved (rollups.paused)
    END IF;"""


def _postgresql(rollup: Rollup, pausable: bool) -> list[str]:
    function = f"drumbeat_{rollup.name}_rollup"
    new = _select(rollup, "n", "+").format(table="new_rows")
    old = _select(rollup, "o", "-").format(table="old_rows")
    body = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN{_pg_pause(pausable)}
    IF TG_OP = 'INSERT' THEN
        {_grouped(rollup, [new])};
    ELSIF TG_OP = 'DELETE' THEN
        {_grouped(rollup, [old])};
    ELSE
        {_grouped(rollup, [new, old])};
    END IF;
    RETURN NULL;
END
$body$"""
    return [body, *_statement_triggers(function, rollup.source, ("INSERT", "UPDATE", "DELETE"))]


_REFERENCING = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def _statement_triggers(function: str, table: str, ops: tuple[str, ...]) -> list[str]:
    """PostgreSQL: (re)create the statement-level triggers running `function` after `ops` on
    `table`, with the transition tables new_rows / old_rows."""
    statements = []
    for op in ops:
        trigger = f"{function}_{op.lower()}"
        statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        statements.append(
            f"CREATE TRIGGER {trigger} AFTER {op} ON {table}"
            f" REFERENCING {_REFERENCING[op]} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def _sqlite_add(rollup: Rollup, alias: str, sign: str) -> str:
    columns = ", ".join([*(col for col, _ in rollup.keys), *(col for col, _ in rollup.counters)])
    keys = ", ".join(expr.format(r=alias) for _, expr in rollup.keys)
    counters = ", ".join(f"{sign}({expr.format(r=alias)})" for _, expr in rollup.counters)
    conflict = ", ".join(col for col, _ in rollup.keys)
    update = ", ".join(f"{col} = {col} + excluded.{col}" for col, _ in rollup.counters)
    return (
        f"INSERT INTO {rollup.target} ({columns}) SELECT {keys}, {counters}"
        f" WHERE {rollup.where.format(r=alias)}"
        f" ON CONFLICT ({conflict}) DO UPDATE SET {update};"
    )


PAUSE_TABLE = "automation_rollup_pause"


def add_rows(vendor: str, name: str, select: str) -> str:
    """INSERT the rows of `select` (key columns, then signed counters, in the order of roll-up
    `name`) into that roll-up: on SQLite adding into the row of an existing key, on
    PostgreSQL appended as delta rows (as its triggers do; `compact()` folds them)."""
    rollup = next(r for r in rollups(vendor) if r.name == name)
    columns = ", ".join([*(col for col, _ in rollup.keys), *(col for col, _ in rollup.counters)])
    if vendor == "postgresql":
        return f"INSERT INTO {rollup.target} ({columns}) SELECT * FROM ({select}) d"
    conflict = ", ".join(col for col, _ in rollup.keys)
    update = ", ".join(f"{col} = {col} + excluded.{col}" for col, _ in rollup.counters)
    # WHERE TRUE: without it SQLite may read ON CONFLICT as the select's join constraint.
    return (
        f"INSERT INTO {rollup.target} ({columns}) SELECT * FROM ({select}) WHERE TRUE"
        f" ON CONFLICT ({conflict}) DO UPDATE SET {update}"
    )


def _sqlite(rollup: Rollup, pausable: bool = True) -> list[str]:
    trigger = f"drumbeat_{rollup.name}_rollup"
    keys = ", ".join(col for col, _ in rollup.keys)
    changed = " OR ".join(f"old.{col} IS NOT new.{col}" for col in rollup.watch)
    if pausable:
        changed = f"({changed}) AND NOT EXISTS (SELECT 1 FROM {PAUSE_TABLE})"
    statements = [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {rollup.target}_key ON {rollup.target} ({keys})"
    ]
    for op, when, body in (
        ("INSERT", "", _sqlite_add(rollup, "new", "+")),
        (
            "UPDATE",
            f" WHEN {changed}",
            _sqlite_add(rollup, "old", "-") + " " + _sqlite_add(rollup, "new", "+"),
        ),
        ("DELETE", "", _sqlite_add(rollup, "old", "-")),
    ):
        name = f"{trigger}_{op.lower()}"
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER {op} ON {rollup.source} FOR EACH ROW{when}"
            f" BEGIN {body} END"
        )
    return statements


def install(vendor: str, pausable: bool = True, version: int = LATEST) -> list[str]:
    """Statements creating (or replacing) every roll-up trigger (`pausable`: SQLite's honour
    the pause table, which exists from migration automation 0010; PostgreSQL's the pause
    setting, from version 4)."""
    statements = []
    if vendor == "postgresql":
        pausable = pausable and version >= 4
    for rollup in rollups(vendor, version):
        if not rollup.generic:
            statements += _SPECIAL[rollup.name][1](vendor, pausable, version)
        elif vendor == "postgresql":
            statements += _postgresql(rollup, pausable)
        else:
            statements += _sqlite(rollup, pausable)
    if version >= 6:
        statements += _split_counters_install(vendor)
    return statements


def uninstall(vendor: str, only: tuple[str, ...] = ()) -> list[str]:
    """Statements dropping every roll-up's triggers (or those named in `only`; "split_counters"
    names the triggers that keep the assignments' counters)."""
    statements = []
    if not only or "split_counters" in only:
        statements += _split_counters_uninstall(vendor)
    for rollup in rollups(vendor):
        if only and rollup.name not in only:
            continue
        if not rollup.generic:
            statements += _SPECIAL[rollup.name][2](vendor)
            continue
        for op in ("insert", "update", "delete"):
            trigger = f"drumbeat_{rollup.name}_rollup_{op}"
            if vendor == "postgresql":
                statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {rollup.source}")
            else:
                statements.append(f"DROP TRIGGER IF EXISTS {trigger}")
        if vendor == "postgresql":
            statements.append(f"DROP FUNCTION IF EXISTS drumbeat_{rollup.name}_rollup()")
        else:
            statements.append(f"DROP INDEX IF EXISTS {rollup.target}_key")
    return statements


# Conversions after each activity (ConversionRollup): a processed trace (not a test one) counts
# when its participant (not a test one) converted at or after the trace's `executed_at`. Both
# sides move it: a trace processed, changed or deleted (its participant read as it is now), and
# a participant converting, changing its conversion or deleted (its processed traces read as
# they are now). On PostgreSQL a conversion and the processing of a trace of the same
# participant may run at once in two transactions, each blind to the other's uncommitted row;
# so a transaction that converts participants holds an advisory lock on their campaign
# exclusively (`goals._mark_converted` takes it first, the participant trigger again), and one
# that changes processed traces of a campaign with a goal holds it shared (the engine's batches
# take it first, the trace trigger again): whichever commits second sees the first, and counts.
CONVERSION_LOCK = "hashtext('drumbeat_conversions')"


LOCK_MODULUS = 2**31 - 1  # advisory lock keys are 32-bit integers, campaign ids 64-bit


def conversion_lock_key(campaign: str) -> str:
    """The second key of a campaign's conversion lock (`campaign`: an SQL expression)."""
    return f"(({campaign}) % {LOCK_MODULUS})::int"


def _counted(alias: str) -> str:
    return f"{alias}.state = 'processed' AND NOT {alias}.is_test"


def _converted_after(trace: str, participant: str) -> str:
    return f"NOT {participant}.is_test AND {participant}.converted_at >= {trace}.executed_at"


_WATCHED = ("activity_id", "participant_id", "state", "is_test", "executed_at")
# (function, table, operations) of the conversion triggers; on SQLite the trigger names only.
_CONVERSION_TRIGGERS = (
    ("drumbeat_conversion_rollup", "automation_trace", ("INSERT", "UPDATE", "DELETE")),
    ("drumbeat_conversion_participant_rollup", "automation_participant", ("UPDATE", "DELETE")),
)


def _conversion_backfill(version: int) -> str:
    return (
        "INSERT INTO automation_conversion_rollup (activity_id, n)"
        " SELECT t.activity_id, count(*) FROM automation_participant p"
        " JOIN automation_trace t ON t.participant_id = p.id"
        f" WHERE p.converted_at IS NOT NULL AND {_counted('t')} AND {_converted_after('t', 'p')}"
        " GROUP BY t.activity_id"
    )


def _conversion_postgresql(pausable: bool) -> list[str]:
    def part(table: str, alias: str, sign: str) -> str:
        return (
            f"SELECT {alias}.activity_id, {sign}1 AS d FROM {table} {alias}"
            f" JOIN automation_participant p ON p.id = {alias}.participant_id"
            f" WHERE {alias}.activity_id = ANY(activities) AND {_counted(alias)}"
            f" AND {_converted_after(alias, 'p')}"
        )

    def count(parts: list[str]) -> str:
        return (
            "INSERT INTO automation_conversion_rollup (activity_id, n)"
            f" SELECT activity_id, sum(d) FROM ({' UNION ALL '.join(parts)}) x"
            " GROUP BY activity_id HAVING sum(d) <> 0"
        )

    changed = " OR ".join(f"n.{col} IS DISTINCT FROM o.{col}" for col in _WATCHED)
    new, old = part("new_rows", "n", "+"), part("old_rows", "o", "-")
    traces = f"""
CREATE OR REPLACE FUNCTION drumbeat_conversion_rollup() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    activities bigint[];
BEGIN{_pg_pause(pausable)}
    -- The activities of the processed traces the statement added, removed or changed.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT activity_id) INTO activities FROM new_rows n
        WHERE {_counted("n")};
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT activity_id) INTO activities FROM old_rows o
        WHERE {_counted("o")};
    ELSE
        SELECT array_agg(DISTINCT v.a) INTO activities
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
        LATERAL (VALUES (n.activity_id), (o.activity_id)) v(a)
        WHERE (({_counted("n")}) OR ({_counted("o")})) AND ({changed});
    END IF;
    IF activities IS NULL THEN
        RETURN NULL;
    END IF;
    -- A conversion of their campaign in progress holds the lock: wait for its commit.
    PERFORM pg_advisory_xact_lock_shared({CONVERSION_LOCK}, {conversion_lock_key("c.id")})
    FROM automation_campaign c
    WHERE c.id IN (SELECT a.campaign_id FROM automation_activity a WHERE a.id = ANY(activities))
        AND c.goal_domain <> '[]'::jsonb
    ORDER BY c.id;
    -- Only campaigns with converted participants have anything to count.
    SELECT array_agg(a.id) INTO activities FROM automation_activity a
    WHERE a.id = ANY(activities) AND EXISTS (
        SELECT 1 FROM automation_participant p
        WHERE p.campaign_id = a.campaign_id AND p.converted_at IS NOT NULL);
    IF activities IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        {count([new])};
    ELSIF TG_OP = 'DELETE' THEN
        {count([old])};
    ELSE
        {count([new, old])};
    END IF;
    RETURN NULL;
END
$body$"""
    # The participants whose conversion (or test flag, while converted) the statement changed.
    moved = (
        "(SELECT COALESCE(n.id, o.id) AS id, COALESCE(n.campaign_id, o.campaign_id) AS campaign,"
        " n.converted_at AS new_at, n.is_test AS new_test,"
        " o.converted_at AS old_at, o.is_test AS old_test"
        " FROM (SELECT * FROM new_rows WHERE converted_at IS NOT NULL) n"
        " FULL JOIN (SELECT * FROM old_rows WHERE converted_at IS NOT NULL) o ON o.id = n.id"
        " WHERE n.converted_at IS DISTINCT FROM o.converted_at"
        " OR n.is_test IS DISTINCT FROM o.is_test) m"
    )
    delta = (
        "CASE WHEN NOT m.new_test AND m.new_at >= t.executed_at THEN 1 ELSE 0 END"
        " - CASE WHEN NOT m.old_test AND m.old_at >= t.executed_at THEN 1 ELSE 0 END"
    )
    participants = f"""
CREATE OR REPLACE FUNCTION drumbeat_conversion_participant_rollup() RETURNS trigger
LANGUAGE plpgsql AS $body$
DECLARE
    campaigns bigint[];
BEGIN{_pg_pause(pausable)}
    IF TG_OP = 'DELETE' THEN
        INSERT INTO automation_conversion_rollup (activity_id, n)
        SELECT t.activity_id, -count(*) FROM old_rows o
        JOIN automation_trace t ON t.participant_id = o.id
        WHERE o.converted_at IS NOT NULL AND {_counted("t")} AND {_converted_after("t", "o")}
        GROUP BY t.activity_id;
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT m.campaign) INTO campaigns FROM {moved};
    IF campaigns IS NULL THEN
        RETURN NULL;
    END IF;
    -- Processing of their campaign's traces in progress holds the lock: wait for its commit.
    PERFORM pg_advisory_xact_lock({CONVERSION_LOCK}, {conversion_lock_key("c")})
    FROM unnest(campaigns) c ORDER BY c;
    INSERT INTO automation_conversion_rollup (activity_id, n)
    SELECT t.activity_id, sum({delta}) FROM {moved}
    JOIN automation_trace t ON t.participant_id = m.id
    WHERE {_counted("t")}
    GROUP BY t.activity_id HAVING sum({delta}) <> 0;
    RETURN NULL;
END
$body$"""
    statements = [traces, participants]
    for function, table, ops in _CONVERSION_TRIGGERS:
        statements += _statement_triggers(function, table, ops)
    return statements


def _conversion_sqlite(pausable: bool) -> list[str]:
    def add(trace: str, sign: str) -> str:
        return (
            f"INSERT INTO automation_conversion_rollup (activity_id, n)"
            f" SELECT {trace}.activity_id, {sign}1 FROM automation_participant p"
            f" WHERE p.id = {trace}.participant_id AND {_counted(trace)}"
            f" AND {_converted_after(trace, 'p')}"
            " ON CONFLICT (activity_id) DO UPDATE SET n = n + excluded.n;"
        )

    def by_activity(counter: str, participant: str) -> str:
        return (
            "INSERT INTO automation_conversion_rollup (activity_id, n) SELECT * FROM"
            f" (SELECT t.activity_id, {counter} AS n FROM automation_trace t"
            f" WHERE t.participant_id = {participant}.id AND {_counted('t')}"
            " GROUP BY t.activity_id) WHERE n <> 0"
            " ON CONFLICT (activity_id) DO UPDATE SET n = n + excluded.n;"
        )

    changed = " OR ".join(f"old.{col} IS NOT new.{col}" for col in _WATCHED)
    if pausable:  # the engine's paused UPDATEs add their counts (setbatch.write_traces)
        changed = f"({changed}) AND NOT EXISTS (SELECT 1 FROM {PAUSE_TABLE})"
    flag = "CASE WHEN {p}.converted_at >= t.executed_at AND NOT {p}.is_test THEN 1 ELSE 0 END"
    triggers = {
        "drumbeat_conversion_rollup_insert": (
            f"AFTER INSERT ON automation_trace FOR EACH ROW WHEN {_counted('new')}",
            add("new", "+"),
        ),
        "drumbeat_conversion_rollup_update": (
            f"AFTER UPDATE ON automation_trace FOR EACH ROW WHEN ({changed})"
            f" AND (({_counted('old')}) OR ({_counted('new')}))",
            add("old", "-") + " " + add("new", "+"),
        ),
        "drumbeat_conversion_rollup_delete": (
            f"AFTER DELETE ON automation_trace FOR EACH ROW WHEN {_counted('old')}",
            add("old", "-"),
        ),
        # Only statements that set these columns: completing participants does not.
        "drumbeat_conversion_participant_rollup_update": (
            "AFTER UPDATE OF converted_at, is_test ON automation_participant FOR EACH ROW"
            " WHEN old.converted_at IS NOT new.converted_at OR old.is_test IS NOT new.is_test",
            by_activity(f"sum({flag.format(p='new')} - {flag.format(p='old')})", "new"),
        ),
        "drumbeat_conversion_participant_rollup_delete": (
            "AFTER DELETE ON automation_participant FOR EACH ROW"
            " WHEN old.converted_at IS NOT NULL AND NOT old.is_test",
            by_activity(f"-sum({flag.format(p='old')})", "old"),
        ),
    }
    statements = [
        "CREATE UNIQUE INDEX IF NOT EXISTS automation_conversion_rollup_key"
        " ON automation_conversion_rollup (activity_id)"
    ]
    return statements + _sqlite_triggers(triggers)


def _conversion_install(vendor: str, pausable: bool, version: int) -> list[str]:
    if vendor == "postgresql":
        return _conversion_postgresql(pausable)
    return _conversion_sqlite(pausable)


def _drop(vendor: str, triggers, index: str = "") -> list[str]:
    """Statements dropping the triggers (function, table, operations) written apart, their
    PostgreSQL functions and, on SQLite, the upsert's unique index."""
    statements = []
    for function, table, ops in triggers:
        for op in ops:
            on = f" ON {table}" if vendor == "postgresql" else ""
            statements.append(f"DROP TRIGGER IF EXISTS {function}_{op.lower()}{on}")
        if vendor == "postgresql":
            statements.append(f"DROP FUNCTION IF EXISTS {function}()")
    if index and vendor != "postgresql":
        statements.append(f"DROP INDEX IF EXISTS {index}")
    return statements


def _sqlite_triggers(triggers: dict[str, tuple[str, str]]) -> list[str]:
    """SQLite: (re)create each named trigger from its event clause and its body."""
    statements = []
    for name, (when, body) in triggers.items():
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(f"CREATE TRIGGER {name} {when} BEGIN {body} END")
    return statements


def _conversion_uninstall(vendor: str) -> list[str]:
    return _drop(vendor, _CONVERSION_TRIGGERS, "automation_conversion_rollup_key")


# Split assignments (AssignmentRollup): an assignment counts while both it and its participant
# exist, under the phase of the participant's conversion against the assignment's time. Both
# sides move it: an assignment written or deleted (its participant read as it is now), and a
# participant converting, changing its test flag or deleted (its assignments read as they are
# now). On PostgreSQL a participant may convert while a batch assigns it in another
# transaction, each blind to the other's uncommitted row: the assignment trigger takes the
# campaign's conversion lock shared, the participant trigger exclusively (as the conversions
# do, above), so whichever commits second sees the first.
_ASSIGNMENT_KEYS = "split_id, branch, randomized, is_test, phase"


def _phase(assignment: str, participant: str) -> str:
    return (
        f"CASE WHEN {participant}.converted_at IS NULL THEN 'open'"
        f" WHEN {participant}.converted_at < {assignment}.assigned_at THEN 'before'"
        " ELSE 'after' END"
    )


def _assignment_key(assignment: str, participant: str) -> str:
    """The key columns of one (assignment, participant) pair, in _ASSIGNMENT_KEYS order."""
    return (
        f"{assignment}.split_id, {assignment}.branch, {assignment}.randomized,"
        f" {participant}.is_test, {_phase(assignment, participant)}"
    )


def _assignment_spec(version: int) -> Rollup:
    return next(r for r in rollups("postgresql", version) if r.name == "assignment")


def _assignment_columns(version: int) -> str:
    return ", ".join(col for col, _ in _assignment_spec(version).counters)


def _assignment_select(assignment: str, participant: str, sign: str, version: int) -> str:
    """The key columns and the signed counters of one (assignment, participant) pair."""
    counters = ", ".join(
        f"{sign}1" if expr == "1" else f"{sign}({expr.format(r=assignment)})"
        for _, expr in _assignment_spec(version).counters
    )
    return f"{_assignment_key(assignment, participant)}, {counters}"


def _assignment_backfill(version: int) -> str:
    sums = ", ".join(
        "count(*)" if expr == "1" else f"sum({expr.format(r='a')})"
        for _, expr in _assignment_spec(version).counters
    )
    columns = _assignment_columns(version)
    return (
        f"INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})"
        f" SELECT {_assignment_key('a', 'p')}, {sums} FROM automation_splitassignment a"
        " JOIN automation_participant p ON p.id = a.participant_id GROUP BY 1, 2, 3, 4, 5"
    )


_ASSIGNMENT_TRIGGERS = (
    ("drumbeat_assignment_rollup", "automation_splitassignment", ("INSERT", "UPDATE", "DELETE")),
    ("drumbeat_assignment_participant_rollup", "automation_participant", ("UPDATE", "DELETE")),
)


def _assignment_sums(names: list[str]) -> tuple[str, str, str]:
    """(the counters' aliases, their sums, "some sum is not zero") for a grouped delta."""
    if names == ["n"]:  # version 5, as installed then
        return "d", "sum(d)", "sum(d) <> 0"
    return (
        ", ".join(names),
        ", ".join(f"sum({col})" for col in names),
        " OR ".join(f"sum({col}) <> 0" for col in names),
    )


def _assignment_postgresql(version: int) -> list[str]:
    columns = _assignment_columns(version)
    names = [col for col, _ in _assignment_spec(version).counters]
    aliases, sums, nonzero = _assignment_sums(names)

    def count(rows: str, alias: str, sign: str) -> str:
        select = _assignment_select(alias, "p", sign, version)
        named = " AS d" if names == ["n"] else ""
        return (
            f"SELECT {select}{named} FROM {rows} {alias}"
            f" JOIN automation_participant p ON p.id = {alias}.participant_id"
        )

    def insert(parts: list[str]) -> str:
        return (
            f"INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})"
            f" SELECT split_id, branch, randomized, is_test, phase, {sums}"
            f" FROM ({' UNION ALL '.join(parts)}) x(split_id, branch, randomized, is_test,"
            f" phase, {aliases}) GROUP BY {_ASSIGNMENT_KEYS} HAVING {nonzero}"
        )

    lock = (
        f"PERFORM pg_advisory_xact_lock_shared({CONVERSION_LOCK}, {conversion_lock_key('c.id')})"
        " FROM automation_campaign c WHERE c.id IN (SELECT a.campaign_id FROM automation_activity a"
        " WHERE a.id IN (SELECT split_id FROM new_rows)) AND c.goal_domain <> '[]'::jsonb"
        " ORDER BY c.id"
    )
    new, old = count("new_rows", "n", "+"), count("old_rows", "o", "-")
    assignments = f"""
CREATE OR REPLACE FUNCTION drumbeat_assignment_rollup() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A conversion of their campaign in progress holds the lock: wait for its commit.
        {lock};
        {insert([new])};
    ELSIF TG_OP = 'DELETE' THEN
        {insert([old])};
    ELSE
        {lock};
        {insert([new, old])};
    END IF;
    RETURN NULL;
END
$body$"""
    statements = [assignments, assignment_participant_function(version)]
    for function, table, ops in _ASSIGNMENT_TRIGGERS:
        statements += _statement_triggers(function, table, ops)
    return statements


def assignment_participant_function(version: int) -> str:
    """PostgreSQL's trigger function for the participants' side of the assignment roll-up: a
    participant converting, changing its test flag or deleted moves its assignments' keys.

    Up to version 6 the participants that changed were found by joining the statement's new
    and old rows inside EXISTS, which the planner ran as a nested loop: an UPDATE of 20,000
    participants outside the engine's paused statements took 19 s, of 100,000 minutes. From
    version 7 only the rows carrying a conversion or the test flag on either side are joined,
    by a FULL JOIN (hashed or merged, never a nested loop), once per statement."""
    columns = _assignment_columns(version)
    names = [col for col, _ in _assignment_spec(version).counters]
    aliases, sums, nonzero = _assignment_sums(names)
    off = ", ".join(
        "-count(*)" if expr == "1" else f"-sum({expr.format(r='a')})"
        for _, expr in _assignment_spec(version).counters
    )
    deleted = f"""
    IF TG_OP = 'DELETE' THEN
        INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})
        SELECT {_assignment_key("a", "o")}, {off}
        FROM old_rows o JOIN automation_splitassignment a ON a.participant_id = o.id
        GROUP BY 1, 2, 3, 4, 5;
        RETURN NULL;
    END IF;"""
    if version < 7:
        # The participants whose conversion or test flag the statement changed, with their
        # assignments: the old key counted off, the new one on.
        changed = (
            "FROM new_rows n JOIN old_rows o ON o.id = n.id"
            " WHERE (n.converted_at IS DISTINCT FROM o.converted_at"
            " OR n.is_test IS DISTINCT FROM o.is_test)"
        )
        moved = (
            "FROM new_rows n JOIN old_rows o ON o.id = n.id"
            " JOIN automation_splitassignment a ON a.participant_id = n.id"
            " WHERE (n.converted_at IS DISTINCT FROM o.converted_at"
            " OR n.is_test IS DISTINCT FROM o.is_test)"
        )
        return f"""
CREATE OR REPLACE FUNCTION drumbeat_assignment_participant_rollup() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN{_pg_pause(True)}{deleted}
    -- Most UPDATEs (completions, leases) change neither column: nothing to read.
    IF NOT EXISTS (SELECT 1 {changed}) THEN
        RETURN NULL;
    END IF;
    -- An assignment of their campaign in progress (not visible yet) holds the lock: wait for
    -- its commit; the statements below then see it.
    PERFORM pg_advisory_xact_lock({CONVERSION_LOCK}, {conversion_lock_key("c")})
    FROM (SELECT DISTINCT n.campaign_id AS c {changed}) x ORDER BY c;
    INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})
    SELECT split_id, branch, randomized, is_test, phase, {sums} FROM (
        SELECT {_assignment_select("a", "n", "+", version)} {moved}
        UNION ALL
        SELECT {_assignment_select("a", "o", "-", version)} {moved}
    ) x(split_id, branch, randomized, is_test, phase, {aliases})
    GROUP BY {_ASSIGNMENT_KEYS} HAVING {nonzero};
    RETURN NULL;
END
$body$"""
    # A participant whose conversion or test flag changed carries one of them on at least one
    # side; a side missing from the FULL JOIN had neither (no conversion, not a test).
    carrying = "SELECT id, campaign_id, converted_at, is_test FROM {rows}"
    carrying += " WHERE converted_at IS NOT NULL OR is_test"
    changed = (
        "SELECT COALESCE(n.id, o.id) AS id, COALESCE(n.campaign_id, o.campaign_id) AS campaign,"
        " n.converted_at AS new_at, COALESCE(n.is_test, FALSE) AS new_test,"
        " o.converted_at AS old_at, COALESCE(o.is_test, FALSE) AS old_test"
        f" FROM ({carrying.format(rows='new_rows')}) n"
        f" FULL JOIN ({carrying.format(rows='old_rows')}) o ON o.id = n.id"
        " WHERE n.converted_at IS DISTINCT FROM o.converted_at"
        " OR COALESCE(n.is_test, FALSE) <> COALESCE(o.is_test, FALSE)"
    )

    def side(at: str, test: str, alias: str, sign: str) -> str:
        return (
            f"SELECT {_assignment_select('a', alias, sign, version)}"
            f" FROM (SELECT id, {at} AS converted_at, {test} AS is_test FROM changed) {alias}"
            f" JOIN automation_splitassignment a ON a.participant_id = {alias}.id"
        )

    return f"""
CREATE OR REPLACE FUNCTION drumbeat_assignment_participant_rollup() RETURNS trigger
LANGUAGE plpgsql AS $body$
DECLARE
    campaigns bigint[];
BEGIN{_pg_pause(True)}{deleted}
    -- Most UPDATEs (completions, leases) change neither column: nothing to read.
    SELECT array_agg(DISTINCT m.campaign) INTO campaigns FROM ({changed}) m;
    IF campaigns IS NULL THEN
        RETURN NULL;
    END IF;
    -- An assignment of their campaign in progress (not visible yet) holds the lock: wait for
    -- its commit; the statement below then sees it.
    PERFORM pg_advisory_xact_lock({CONVERSION_LOCK}, {conversion_lock_key("c")})
    FROM unnest(campaigns) c ORDER BY c;
    WITH changed AS MATERIALIZED ({changed})
    INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})
    SELECT split_id, branch, randomized, is_test, phase, {sums} FROM (
        {side("new_at", "new_test", "n", "+")}
        UNION ALL
        {side("old_at", "old_test", "o", "-")}
    ) x(split_id, branch, randomized, is_test, phase, {aliases})
    GROUP BY {_ASSIGNMENT_KEYS} HAVING {nonzero};
    RETURN NULL;
END
$body$"""


def _assignment_sqlite(version: int) -> list[str]:
    spec = _assignment_spec(version)
    columns = _assignment_columns(version)
    added = ", ".join(f"{col} = {col} + excluded.{col}" for col, _ in spec.counters)

    def add(select: str, source: str) -> str:
        # The source has a WHERE: SQLite then cannot read the ON of the upsert as a join's.
        return (
            f"INSERT INTO automation_assignment_rollup ({_ASSIGNMENT_KEYS}, {columns})"
            f" SELECT {select} FROM {source}"
            f" ON CONFLICT ({_ASSIGNMENT_KEYS}) DO UPDATE SET {added};"
        )

    def of_assignment(alias: str, sign: str) -> str:
        return add(
            _assignment_select(alias, "p", sign, version),
            f"automation_participant p WHERE p.id = {alias}.participant_id",
        )

    def of_participant(alias: str, sign: str) -> str:
        return add(
            _assignment_select("a", alias, sign, version),
            f"automation_splitassignment a WHERE a.participant_id = {alias}.id",
        )

    watched = " OR ".join(f"old.{col} IS NOT new.{col}" for col in spec.watch)
    triggers = {
        "drumbeat_assignment_rollup_insert": (
            "AFTER INSERT ON automation_splitassignment FOR EACH ROW",
            of_assignment("new", "+"),
        ),
        "drumbeat_assignment_rollup_update": (
            f"AFTER UPDATE ON automation_splitassignment FOR EACH ROW WHEN {watched}",
            of_assignment("old", "-") + " " + of_assignment("new", "+"),
        ),
        "drumbeat_assignment_rollup_delete": (
            "AFTER DELETE ON automation_splitassignment FOR EACH ROW",
            of_assignment("old", "-"),
        ),
        "drumbeat_assignment_participant_rollup_update": (
            "AFTER UPDATE OF converted_at, is_test ON automation_participant FOR EACH ROW"
            " WHEN old.converted_at IS NOT new.converted_at OR old.is_test IS NOT new.is_test",
            of_participant("old", "-") + " " + of_participant("new", "+"),
        ),
        "drumbeat_assignment_participant_rollup_delete": (
            "AFTER DELETE ON automation_participant FOR EACH ROW",
            of_participant("old", "-"),
        ),
    }
    statements = [
        "CREATE UNIQUE INDEX IF NOT EXISTS automation_assignment_rollup_key"
        f" ON automation_assignment_rollup ({_ASSIGNMENT_KEYS})"
    ]
    return statements + _sqlite_triggers(triggers)


def _assignment_install(vendor: str, pausable: bool, version: int) -> list[str]:
    """PostgreSQL's participant UPDATE trigger honours the pause (the engine's paused UPDATEs
    change no conversion); SQLite's fires only on the statements setting the two columns."""
    if vendor == "postgresql":
        return _assignment_postgresql(version)
    return _assignment_sqlite(version)


def _assignment_uninstall(vendor: str) -> list[str]:
    return _drop(vendor, _ASSIGNMENT_TRIGGERS, "automation_assignment_rollup_key")


# Each assignment's counters (SplitAssignment.sends, opened, opens, clicks): the messages and
# traces of the activities under its split (`automation_split_member`) for its participant,
# added to by triggers on the traces (a person's open and click) and the messages (sent or
# bounced, opened). They update the assignment rows, whose own trigger moves the roll-up; the
# row lock of that UPDATE makes two events of one participant at once count one after the
# other, so "people who clicked" (an assignment whose clicks go from 0 to 1) counts each
# person once. The traces under a split are written after its assignment (its children come
# from the split's batch), so an assignment starts at zero; a tree change that moves
# activities with traces counts the splits concerned again (`splits.recount`).
_SPLIT_TRIGGERS = (
    ("drumbeat_split_trace_counters", "automation_trace"),
    ("drumbeat_split_message_counters", "mailing_message"),
)


def _split_flags(table: str) -> tuple[tuple[str, str], ...]:
    """(assignment counter, condition over a row {r}) of the trace or message table."""
    if table == "automation_trace":
        return (
            ("opens", "{r}.human_opened_at IS NOT NULL"),
            ("clicks", "{r}.human_clicked_at IS NOT NULL"),
        )
    return (("sends", "{r}.state IN ('sent', 'bounced')"), ("opened", "{r}.opened_at IS NOT NULL"))


_SPLIT_COUNTER_NAMES = ("opens", "clicks", "sends", "opened")
_MOVED_TRACE = (
    "{o}.participant_id IS DISTINCT FROM {n}.participant_id"
    " OR {o}.activity_id IS DISTINCT FROM {n}.activity_id"
)


def _split_values(flags: dict[str, str], sign: str) -> str:
    """The four counters of one row, those not in `flags` (name → condition) at zero."""
    return ", ".join(
        f"{sign}{_flag(flags[n])} AS {n}" if n in flags else f"0 AS {n}"
        for n in _SPLIT_COUNTER_NAMES
    )


def _split_counters_postgresql(function: str, table: str) -> list[str]:
    people = dict(_split_flags("automation_trace"))
    mail = dict(_split_flags("mailing_message"))

    def trace_parts(rows: str, alias: str, sign: str, moved: str) -> list[str]:
        """A trace's own counters, and those of its message (which outlives a deleted trace
        and is written after a new one: only a deleted or moved trace carries it)."""
        flags = {n: c.format(r=alias) for n, c in people.items()}
        own = (
            f"SELECT {alias}.participant_id, {alias}.activity_id, {_split_values(flags, sign)}"
            f" FROM {rows} {alias} WHERE {' OR '.join(flags.values())}"
        )
        if moved == "none":
            return [own]
        kept = {n: c.format(r="msg") for n, c in mail.items()}
        joined = f"{rows} {alias} JOIN mailing_message msg ON msg.trace_id = {alias}.id"
        if moved != "all":
            joined += f" JOIN {moved}"
        message = (
            f"SELECT {alias}.participant_id, {alias}.activity_id, {_split_values(kept, sign)}"
            f" FROM {joined} WHERE {' OR '.join(kept.values())}"
        )
        return [own, message]

    def message_parts(rows: str, alias: str, sign: str) -> list[str]:
        flags = {n: c.format(r=alias) for n, c in mail.items()}
        return [
            f"SELECT t.participant_id, t.activity_id, {_split_values(flags, sign)}"
            f" FROM {rows} {alias} JOIN automation_trace t ON t.id = {alias}.trace_id"
            f" WHERE {' OR '.join(flags.values())}"
        ]

    def update(parts: list[str]) -> str:
        sums = ", ".join(f"sum(d.{n}) AS {n}" for n in _SPLIT_COUNTER_NAMES)
        nonzero = " OR ".join(f"sum(d.{n}) <> 0" for n in _SPLIT_COUNTER_NAMES)
        assign = ", ".join(f"{n} = a.{n} + s.{n}" for n in _SPLIT_COUNTER_NAMES)
        return (
            f"WITH s AS (SELECT d.participant_id, m.split_id, {sums}"
            f" FROM ({' UNION ALL '.join(parts)}) d"
            " JOIN automation_split_member m ON m.activity_id = d.activity_id"
            f" GROUP BY d.participant_id, m.split_id HAVING {nonzero})"
            f" UPDATE automation_splitassignment a SET {assign} FROM s"
            " WHERE a.participant_id = s.participant_id AND a.split_id = s.split_id"
        )

    if table == "automation_trace":
        # An UPDATE moves a message's counts only with a trace that changed participant or
        # activity (never in the engine: a probe of every updated trace's message saved).
        moved_new = "old_rows mo ON mo.id = n.id AND (" + _MOVED_TRACE.format(o="mo", n="n") + ")"
        moved_old = "new_rows mn ON mn.id = o.id AND (" + _MOVED_TRACE.format(o="o", n="mn") + ")"
        inserted = trace_parts("new_rows", "n", "+", "none")
        deleted = trace_parts("old_rows", "o", "-", "all")
        updated = trace_parts("new_rows", "n", "+", moved_new) + trace_parts(
            "old_rows", "o", "-", moved_old
        )
    else:
        inserted = message_parts("new_rows", "n", "+")
        deleted = message_parts("old_rows", "o", "-")
        updated = inserted + deleted
    body = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN{_pg_pause(True)}
    -- Nothing under a split anywhere: nothing to count.
    IF NOT EXISTS (SELECT 1 FROM automation_split_member) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        {update(inserted)};
    ELSIF TG_OP = 'DELETE' THEN
        {update(deleted)};
    ELSE
        {update(updated)};
    END IF;
    RETURN NULL;
END
$body$"""
    return [body, *_statement_triggers(function, table, ("INSERT", "UPDATE", "DELETE"))]


def _split_counters_sqlite(function: str, table: str) -> list[str]:
    people = dict(_split_flags("automation_trace"))
    mail = dict(_split_flags("mailing_message"))

    def add(alias: str, sign: str, message: bool = False) -> str:
        if table == "automation_trace":
            assign = [f"{n} = {n} {sign} ({c.format(r=alias)})" for n, c in people.items()]
            if message:  # the counts of its message go with a deleted or moved trace
                assign += [
                    f"{n} = {n} {sign} COALESCE((SELECT {c.format(r='msg')}"
                    f" FROM mailing_message msg WHERE msg.trace_id = {alias}.id), 0)"
                    for n, c in mail.items()
                ]
            where = (
                f"participant_id = {alias}.participant_id AND split_id IN (SELECT m.split_id"
                f" FROM automation_split_member m WHERE m.activity_id = {alias}.activity_id)"
            )
        else:
            assign = [f"{n} = {n} {sign} ({c.format(r=alias)})" for n, c in mail.items()]
            where = (
                "(participant_id, split_id) IN (SELECT t.participant_id, m.split_id"
                " FROM automation_trace t JOIN automation_split_member m"
                f" ON m.activity_id = t.activity_id WHERE t.id = {alias}.trace_id)"
            )
        return f"UPDATE automation_splitassignment SET {', '.join(assign)} WHERE {where};"

    flags = people if table == "automation_trace" else mail

    def counts(alias: str) -> str:
        return " OR ".join(c.format(r=alias) for c in flags.values())

    flipped = " OR ".join(
        f"({c.format(r='old')}) IS NOT ({c.format(r='new')})" for c in flags.values()
    )
    if table == "automation_trace":
        moved = _MOVED_TRACE.replace("IS DISTINCT FROM", "IS NOT").format(o="old", n="new")
        has_message = "EXISTS (SELECT 1 FROM mailing_message WHERE trace_id = old.id)"
        triggers = {
            # A new trace has no message yet (it is written after).
            "insert": (
                f"AFTER INSERT ON {table} FOR EACH ROW WHEN {counts('new')}",
                add("new", "+"),
            ),
            "update": (
                f"AFTER UPDATE ON {table} FOR EACH ROW WHEN ({flipped}) OR ({moved})",
                add("old", "-", message=True) + " " + add("new", "+", message=True),
            ),
            "delete": (
                f"AFTER DELETE ON {table} FOR EACH ROW WHEN {counts('old')} OR {has_message}",
                add("old", "-", message=True),
            ),
        }
    else:
        moved = "old.trace_id IS NOT new.trace_id"
        triggers = {
            "insert": (
                f"AFTER INSERT ON {table} FOR EACH ROW WHEN {counts('new')}",
                add("new", "+"),
            ),
            "update": (
                f"AFTER UPDATE ON {table} FOR EACH ROW WHEN ({flipped})"
                f" OR (({moved}) AND ({counts('old')} OR {counts('new')}))",
                add("old", "-") + " " + add("new", "+"),
            ),
            "delete": (
                f"AFTER DELETE ON {table} FOR EACH ROW WHEN {counts('old')}",
                add("old", "-"),
            ),
        }
    return _sqlite_triggers({f"{function}_{op}": clauses for op, clauses in triggers.items()})


def _split_counters_install(vendor: str) -> list[str]:
    statements = []
    for function, table in _SPLIT_TRIGGERS:
        if vendor == "postgresql":
            statements += _split_counters_postgresql(function, table)
        else:
            statements += _split_counters_sqlite(function, table)
    return statements


def _split_counters_uninstall(vendor: str) -> list[str]:
    ops = ("INSERT", "UPDATE", "DELETE")
    return _drop(vendor, [(function, table, ops) for function, table in _SPLIT_TRIGGERS])


def split_recount(split_ids: str) -> list[str]:
    """Statements counting the assignment counters of the splits in `split_ids` (an SQL list
    or subquery) again from the traces and messages under them: every counter to zero, then
    those with something to count."""
    counters = ("sends", "opened", "opens", "clicks")
    nonzero = " OR ".join(f"{c} <> 0" for c in counters)
    differs = " OR ".join(f"a.{c} <> x.{c}" for c in counters)
    flags = _split_flags("automation_trace") + _split_flags("mailing_message")
    sums = ", ".join(
        f"sum({_flag(cond.format(r='t' if name in ('opens', 'clicks') else 'msg'))}) AS {name}"
        for name, cond in flags
    )
    counted = (
        f"SELECT t.participant_id, m.split_id, {sums} FROM automation_split_member m"
        " JOIN automation_trace t ON t.activity_id = m.activity_id"
        " LEFT JOIN mailing_message msg ON msg.trace_id = t.id"
        f" WHERE m.split_id IN ({split_ids}) GROUP BY t.participant_id, m.split_id"
    )
    assign = ", ".join(f"{c} = x.{c}" for c in counters)
    return [
        "UPDATE automation_splitassignment SET sends = 0, opened = 0, opens = 0, clicks = 0"
        f" WHERE split_id IN ({split_ids}) AND ({nonzero})",
        f"UPDATE automation_splitassignment AS a SET {assign} FROM ({counted}) AS x"
        f" WHERE a.participant_id = x.participant_id AND a.split_id = x.split_id AND ({differs})",
    ]


# The roll-ups written apart: name → (backfill, install, uninstall).
_SPECIAL = {
    "conversion": (_conversion_backfill, _conversion_install, _conversion_uninstall),
    "assignment": (_assignment_backfill, _assignment_install, _assignment_uninstall),
}
