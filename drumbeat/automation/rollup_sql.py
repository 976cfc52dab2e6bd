"""The triggers that keep the roll-up tables (automation/rollup_models.py), for PostgreSQL and
SQLite, and the backfill from existing rows; installed by migrations automation 0009, 0010 and
0012.

Every roll-up is described once (`ROLLUPS`): its source table, its key and counter
expressions over a source row `{r}`, the rows it counts (`where`) and the source columns
whose change can move a row between keys (`watch`, used by SQLite's UPDATE triggers).

- PostgreSQL: one statement-level trigger per source table and operation, with transition
  tables (REFERENCING NEW TABLE / OLD TABLE): a statement appends one row per key it changed,
  the old rows counted negatively and the new ones positively, keys whose net is zero left
  out. An UPDATE that moves no row between keys (a lease renewal) appends nothing.
- SQLite: row-level triggers adding into one row per key (upsert on a unique index that only
  SQLite gets: PostgreSQL appends without it). A bulk UPDATE of the engine may instead add
  the counts it moved itself, a grouped statement in place of a trigger call per row
  (`paused` and `add_counts` in automation/rollups.py): the UPDATE triggers skip their work
  while the table `automation_rollup_pause` has a row, which only that transaction ever
  sees (SQLite has one writer at a time, and the row is deleted before the commit).
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
# the traces a person opened and clicked too, and the contact-pressure events. A migration
# names the version it installs, so it keeps doing what it did when later versions add to it.
LATEST = 2


def rollups(vendor: str, version: int = LATEST) -> list[Rollup]:
    true = "TRUE" if vendor == "postgresql" else "1"
    false = "FALSE" if vendor == "postgresql" else "0"
    engagement = (
        (
            ("human_opened", _flag("{r}.human_opened_at IS NOT NULL")),
            ("human_clicked", _flag("{r}.human_clicked_at IS NOT NULL")),
        )
        if version >= 2
        else ()
    )
    pressure = (
        [
            Rollup(
                name="pressure",
                source="automation_pressureevent",
                target="automation_pressure_rollup",
                keys=(("activity_id", "{r}.activity_id"), ("kind", "{r}.kind")),
                counters=(("n", "1"),),
                where=true,
                watch=("activity_id", "kind"),
            )
        ]
        if version >= 2
        else []
    )
    return [
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
            counters=(("n", "1"), *engagement),
            where=true,
            watch=(
                "activity_id",
                "state",
                "is_test",
                "executed_at",
                *(("human_opened_at", "human_clicked_at") if version >= 2 else ()),
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
        *pressure,
    ]


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
        part = _select(rollup, "r", "+").format(table=rollup.source)
        statements.append(_grouped(rollup, [part]))
    return statements


def _postgresql(rollup: Rollup) -> list[str]:
    function = f"drumbeat_{rollup.name}_rollup"
    new = _select(rollup, "n", "+").format(table="new_rows")
    old = _select(rollup, "o", "-").format(table="old_rows")
    body = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
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
    statements = [body]
    for op, referencing in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        trigger = f"{function}_{op.lower()}"
        statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {rollup.source}")
        statements.append(
            f"CREATE TRIGGER {trigger} AFTER {op} ON {rollup.source}"
            f" REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
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


def sqlite_upsert(name: str, select: str) -> str:
    """SQLite: INSERT the rows of `select` (key columns, then signed counters, in the order of
    roll-up `name`) into that roll-up, adding into the row of an existing key."""
    rollup = next(r for r in rollups("sqlite") if r.name == name)
    columns = ", ".join([*(col for col, _ in rollup.keys), *(col for col, _ in rollup.counters)])
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
    the pause table, which exists from migration automation 0010)."""
    specs = rollups(vendor, version)
    if vendor == "postgresql":
        return [statement for rollup in specs for statement in _postgresql(rollup)]
    return [s for rollup in specs for s in _sqlite(rollup, pausable)]


def uninstall(vendor: str, only: tuple[str, ...] = ()) -> list[str]:
    statements = []
    for rollup in rollups(vendor):
        if only and rollup.name not in only:
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
