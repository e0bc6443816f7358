import type { Knex } from 'knex';
import { runStatements } from '../src/store/migration-helpers.js';

// `report consistency` proves every package once, then only the packages changed since: at the
// medium profile a full proof reads 8M events (8 s on two connections), the changes of a day
// are a few thousand packages (milliseconds).
//
// Statement triggers on the three tables the checks read list the packages each statement
// touched in `consistency_changes`, with the transaction that touched them. A proof taken at a
// snapshot removes the rows visible in that snapshot, and only those, when it finds nothing
// wrong: a change committed meanwhile stays listed. One trigger per statement (not per row) and
// an append-only list without keys: a scan pays three small inserts, and no write waits on
// another's lock here.
//
// What the triggers cannot list (a TRUNCATE, a seed loading with them switched off) moves
// `consistency_state.epoch` on; a full proof is trusted only while the epoch it proved is the
// current one, and while the checks are those it ran.
//
// Not seen by the triggers, so to be followed by `report consistency --full`: writes with the
// triggers disabled (session_replication_role = replica, as pg_restore --disable-triggers and
// logical replication apply use; ALTER TABLE … DISABLE TRIGGER), writes aimed at a partition or
// child table directly (none exists today), and a failover or restore: the listed transaction
// ids are compared with the snapshots of the cluster that records the proof.

export const config = { transaction: true };

const tables = ['packages', 'shipments', 'tracking_events'] as const;

/** The packages a statement touched, from the transition tables its trigger names. */
const touched = {
  inserted: 'select distinct package_id from inserted_rows',
  updated: 'select package_id from old_rows union select package_id from new_rows',
  deleted: 'select distinct package_id from deleted_rows',
};

export async function up(knex: Knex): Promise<void> {
  // The functions run as their owner, with this schema fixed: a writing role needs no grant on
  // the bookkeeping tables, and its search_path cannot point the listing elsewhere.
  const schema = (await knex.raw<{ rows: { name: string }[] }>('select current_schema() as name')).rows[0]?.name ?? 'public';
  const fixed = `security definer set search_path = pg_catalog, "${schema.replaceAll('"', '""')}"`;
  // `shiptrack.track_changes = off` silences the listing only in the transaction that moved the
  // epoch on (a seed does both): set anywhere else, the setting changes nothing.
  // Unset (every write but a seed's), the setting is '' and the state row is never read.
  const silenced = `coalesce(current_setting('shiptrack.track_changes', true), '') = 'off'
                    and coalesce((select epoch_xact from consistency_state) = pg_current_xact_id(), false)`;
  await runStatements(knex, [
    `create table consistency_state (
       singleton boolean primary key default true check (singleton),
       epoch bigint not null default 0,
       -- the transaction that last moved the epoch on
       epoch_xact xid8,
       proven_epoch bigint,
       -- a digest of the checks that proof ran: other checks (a new release) prove it again
       proven_checks text,
       proven_at timestamptz
     )`,
    `insert into consistency_state default values`,
    `create table consistency_changes (
       package_id bigint not null,
       xact xid8 not null default pg_current_xact_id()
     )`,
    `comment on table consistency_changes is
       'packages changed since the last consistency proof (filled by triggers; emptied by report consistency)'`,
    // One listing function per kind of statement: each reads the packages from its transition tables.
    ...Object.entries(touched).map(
      ([kind, packages]) => `create function consistency_note_${kind}() returns trigger language plpgsql ${fixed} as $$
         begin
           if not (${silenced}) then
             insert into consistency_changes (package_id) ${packages};
           end if;
           return null;
         end $$`,
    ),
    `create function consistency_note_truncated() returns trigger language plpgsql ${fixed} as $$
     begin
       update consistency_state set epoch = epoch + 1, epoch_xact = pg_current_xact_id();
       return null;
     end $$`,
    ...tables.flatMap((table) => [
      `create trigger ${table}_consistency_insert after insert on ${table}
         referencing new table as inserted_rows for each statement execute function consistency_note_inserted()`,
      `create trigger ${table}_consistency_update after update on ${table}
         referencing old table as old_rows new table as new_rows for each statement execute function consistency_note_updated()`,
      `create trigger ${table}_consistency_delete after delete on ${table}
         referencing old table as deleted_rows for each statement execute function consistency_note_deleted()`,
      `create trigger ${table}_consistency_truncate after truncate on ${table}
         for each statement execute function consistency_note_truncated()`,
    ]),
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await runStatements(knex, [
    ...tables.flatMap((table) =>
      ['insert', 'update', 'delete', 'truncate'].map((event) => `drop trigger ${table}_consistency_${event} on ${table}`),
    ),
    `drop function consistency_note_inserted(), consistency_note_updated(), consistency_note_deleted(), consistency_note_truncated()`,
    `drop table consistency_changes`,
    `drop table consistency_state`,
  ]);
}
