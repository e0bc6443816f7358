import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { checkScan, type ScanRecord } from '../domain/scan-input.js';
import { isValidTrackingNumber } from '../domain/tracking-number.js';
import { ConflictError, ExitCode, NotFoundError, ShiptrackError, UsageError, mapPostgresError } from '../errors.js';
import { findPackageRoot } from '../package-root.js';
import type { Database } from '../store/database.js';
import type { Resources } from '../store/resources.js';
import { withSession } from '../store/session.js';
import { collectConsistencyChecks } from './check.service.js';
import type { ReportReader } from './reports/report.js';
import { afterScansCommitted } from './scan.service.js';
import { writeScans, type ScanOutcome } from './scan-write.js';
import type { ServiceWarning } from './warnings.js';

/**
 * `shiptrack seed run` and `seed list`: small, readable seed files that set up a known state
 * (knex's convention: a module exporting `seed(knex)`), shiptrack's own from `seeds/` and then a
 * team's from SHIPTRACK_SEEDS_DIR, in name order. One run is one transaction: every write goes
 * through the write path's rules (scans judged by the state machine, raw scans to the document
 * store), the packages a file touched are proven by the consistency checks before the next file
 * runs, and a file that breaks a rule is refused by its file and line, with nothing applied.
 * Each file is recorded in `shiptrack_seeds` (name, checksum, first applied at); that first time
 * is the file's "now", so running it again writes the same rows: nothing.
 */

/** A seed file on disk. */
export interface SeedFile {
  name: string;
  /** shiptrack's own (`seeds/`), or the team's (SHIPTRACK_SEEDS_DIR). */
  origin: 'shiptrack' | 'team';
  sourcePath: string;
  /** The module that runs: the compiled `.js` of a shipped `.ts`, else the file itself. */
  modulePath: string;
  /** sha256 of the source, line endings normalised. */
  checksum: string;
}

export interface SeedFileState {
  name: string;
  origin: SeedFile['origin'];
  /** pending: never applied here; applied: as it is now; changed: applied, then edited. */
  state: 'pending' | 'applied' | 'changed';
  checksum: string;
  appliedAt: string | null;
  reappliedAt: string | null;
}

export interface SeedListing {
  files: SeedFileState[];
  /** The team's folder in use, or null. */
  teamDirectory: string | null;
}

/** What a file wrote: rows inserted or changed, scans recorded, and scans that were there already. */
export interface SeedChanges {
  customers: number;
  locations: number;
  packages: number;
  shipments: number;
  scans: number;
  duplicateScans: number;
}

export interface SeedFileRun {
  name: string;
  origin: SeedFile['origin'];
  /** applied: the first time here; reapplied: the file changed since; rerun: the same file again. */
  result: 'applied' | 'reapplied' | 'rerun';
  changes: SeedChanges;
  /** The "now" its relative times were computed from: when it was first applied here. */
  asOf: string;
  seconds: number;
}

export interface SeedRunReport {
  files: SeedFileRun[];
  /** Tracking numbers the files point out, with what each shows. */
  highlights: { trackingNumber: string; story: string }[];
  warnings: ServiceWarning[];
  seconds: number;
}

/** A customer of a seed file; its natural key is the e-mail address (case-insensitive). */
export interface SeedCustomer {
  name: string;
  email: string;
  address: string;
}

/** A location of a seed file; its natural key is its name. */
export interface SeedLocation {
  location_name: string;
  city: string;
  state: string;
  location_type: string;
  time_zone: string;
}

/** A package with its shipment; its natural key is the tracking number. */
export interface SeedPackage {
  trackingNumber: string;
  /** Customers by e-mail address. */
  sender: string;
  recipient: string;
  weightKg: number;
  metadata?: Record<string, unknown>;
  /** Locations by name. */
  origin: string;
  destination: string;
  estimatedDelivery: Date;
  /** When the label was created (default: the file's now). */
  labelCreatedAt?: Date;
}

/** A scan of a seed file: a scan as `shiptrack scan` takes it, and when its message reached us. */
export type SeedScan = ScanRecord & {
  /** When the scan's message arrived (default: when it is recorded); a late one is out of order. */
  receivedAt?: Date;
};

/**
 * The services a seed file gets as `seed(knex, shiptrack)`'s second argument: upserts on natural
 * keys and the write path for scans, all in the run's transaction (`knex` is that transaction).
 */
export interface SeedServices {
  /** The file's "now": when it was first applied to this database. Compute times from it. */
  readonly now: Date;
  /** Inserts customers, or updates those whose name or address differ; returns their ids by e-mail. */
  upsertCustomers(customers: readonly SeedCustomer[]): Promise<Map<string, number>>;
  /** Inserts locations, or updates those whose city, state, type or time zone differ. */
  upsertLocations(locations: readonly SeedLocation[]): Promise<void>;
  /** Inserts packages with their shipments, or updates what differs (never the status: scans move it). */
  upsertPackages(packages: readonly SeedPackage[]): Promise<void>;
  /**
   * Records scans through the write path (idempotent, judged by the state machine; payloads are
   * the raw scans). A scan the state machine refuses stops the run, naming this call's line.
   */
  recordScans(scans: readonly SeedScan[]): Promise<ScanOutcome[]>;
  /** Names a tracking number worth trying, printed at the end of the run. */
  highlight(trackingNumber: string, story: string): void;
}

export interface SeedModule {
  seed(knex: Knex, shiptrack: SeedServices): Promise<void> | void;
}

/** A seed file that breaks a rule: refused, by its file and line, and nothing applied. */
export class SeedFileError extends ShiptrackError {
  constructor(
    file: string,
    line: number | undefined,
    message: string,
    details: Record<string, unknown> = {},
    hint = 'fix the seed file and run it again: nothing of this run was applied',
    /** 2 for a file that cannot run; 4 (as for a refused scan) for data the rules refuse. */
    exitCode: ExitCode = ExitCode.usage,
  ) {
    super('seed_refused', exitCode, `${line === undefined ? file : `${file}:${line}`}: ${message}`, {
      details: { file, line: line ?? null, ...details },
      hint,
    });
  }
}

const namePattern = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\.(ts|js|mjs)$/;
const historyTable = 'shiptrack_seeds';
const manifestName = 'checksums.json';

/** pg_locks: classid 21781, objid 2 — the generator's lock: a seed run and a seed never overlap. */
const seedLock = [21781, 2] as const;

const checksumOf = (text: string): string => createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest('hex');

/** shiptrack's own seed files: sources in `seeds/`, compiled into `dist/seeds/`. */
export function shippedSeedDirectories(): { directory: string; compiledDirectory: string } {
  const root = findPackageRoot();
  return { directory: path.join(root, 'seeds'), compiledDirectory: path.join(root, 'dist', 'seeds') };
}

/** The seed files, shiptrack's first, then the team's (SHIPTRACK_SEEDS_DIR), each in name order. */
export function listSeedFiles(config: Pick<Config, 'seedsDir'>): SeedFile[] {
  const shipped = shippedSeedDirectories();
  const files: SeedFile[] = [];
  const add = (directory: string, compiledDirectory: string, origin: SeedFile['origin']): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!entry.isFile() || entry.name.endsWith('.d.ts')) continue;
      const match = namePattern.exec(entry.name);
      if (!match?.[1]) continue;
      const sourcePath = path.join(directory, entry.name);
      if (origin === 'team' && match[2] === 'ts') {
        throw new UsageError(`${sourcePath}: a team's seed files are .js or .mjs modules (there is no build step)`);
      }
      const name = match[1];
      if (files.some((f) => f.name === name)) throw new ConflictError('duplicate_seed', `two seed files are named ${name}`);
      const modulePath = match[2] === 'ts' ? path.join(compiledDirectory, `${name}.js`) : sourcePath;
      files.push({ name, origin, sourcePath, modulePath, checksum: checksumOf(readFileSync(sourcePath, 'utf8')) });
    }
  };
  if (existsSync(shipped.directory)) add(shipped.directory, shipped.compiledDirectory, 'shiptrack');
  if (config.seedsDir !== undefined) {
    if (!existsSync(config.seedsDir)) throw new NotFoundError(`SHIPTRACK_SEEDS_DIR: no folder ${config.seedsDir}`);
    if (path.resolve(config.seedsDir) !== path.resolve(shipped.directory)) add(config.seedsDir, config.seedsDir, 'team');
  }
  return files;
}

/** Run by the build after compiling: records the checksum of every `.ts` seed source it compiled. */
export function writeSeedBuildChecksums(): number {
  const { directory, compiledDirectory } = shippedSeedDirectories();
  const entries = listSeedFiles({ seedsDir: undefined })
    .filter((f) => f.sourcePath.startsWith(directory) && f.sourcePath.endsWith('.ts'))
    .map((f) => [f.name, f.checksum] as const);
  mkdirSync(compiledDirectory, { recursive: true });
  writeFileSync(path.join(compiledDirectory, manifestName), `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`);
  return entries.length;
}

/** The files asked for, in run order; an unknown name is a UsageError naming it. */
function selectSeedFiles(files: readonly SeedFile[], names: readonly string[]): SeedFile[] {
  if (names.length === 0) return [...files];
  const wanted = names.map((n) => n.replace(/\.(ts|js|mjs)$/, ''));
  const unknown = wanted.filter((n) => !files.some((f) => f.name === n));
  if (unknown.length > 0) {
    throw new UsageError(`no seed file is named ${unknown.join(', ')}`, {
      hint: `seed files: ${files.map((f) => f.name).join(', ') || 'none'} (see \`shiptrack seed list\`)`,
      details: { unknown },
    });
  }
  return files.filter((f) => wanted.includes(f.name));
}

/** How a file is named in messages: relative to the working folder when it is below it. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

async function loadSeedModule(file: SeedFile): Promise<SeedModule> {
  const shown = displayPath(file.sourcePath);
  const build = 'run `npm run build` (nothing was applied)';
  if (!existsSync(file.modulePath)) {
    throw new SeedFileError(shown, undefined, `not built (${path.basename(file.modulePath)} is missing)`, {}, build);
  }
  if (file.modulePath !== file.sourcePath) {
    const manifest = path.join(path.dirname(file.modulePath), manifestName);
    const built = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, string>) : {};
    if (built[file.name] !== file.checksum) {
      throw new SeedFileError(shown, undefined, 'changed since it was built', {}, build);
    }
  }
  let mod: Partial<SeedModule>;
  try {
    mod = (await import(pathToFileURL(file.modulePath).href)) as Partial<SeedModule>;
  } catch (error) {
    throw new SeedFileError(shown, undefined, `cannot be loaded: ${(error as Error).message}`);
  }
  if (typeof mod.seed !== 'function') throw new SeedFileError(shown, undefined, 'must export a function seed(knex)');
  return mod as SeedModule;
}

/** The line of the seed file that made the current call (its first frame in the stack). */
function callerLine(modulePath: string): number | undefined {
  const url = pathToFileURL(modulePath).href;
  for (const frame of (new Error().stack ?? '').split('\n')) {
    const at = frame.indexOf(url) >= 0 ? frame.indexOf(url) + url.length : frame.indexOf(modulePath) + modulePath.length;
    if (frame.indexOf(url) < 0 && frame.indexOf(modulePath) < 0) continue;
    const line = /^:(\d+)/.exec(frame.slice(at))?.[1];
    if (line !== undefined) return Number(line);
  }
  return undefined;
}

interface HistoryRow {
  name: string;
  checksum: string;
  applied_at: Date;
  reapplied_at: Date | null;
}

async function readHistory(knex: Knex): Promise<Map<string, HistoryRow>> {
  const result = await knex.raw<{ rows: HistoryRow[] }>(
    `select name, checksum, applied_at, reapplied_at from ${historyTable} order by name`,
  );
  return new Map(result.rows.map((r) => [r.name, { ...r, checksum: r.checksum.trim() }]));
}

/** `seed list`: the seed files, and whether and when each was applied to this database. */
export async function listSeeds(resources: Resources): Promise<SeedListing> {
  const files = listSeedFiles(resources.config);
  const db = await resources.database();
  let history: Map<string, HistoryRow>;
  try {
    history = await readHistory(db.knex);
  } catch (error) {
    throw mapPostgresError(error);
  }
  return {
    files: files.map((f) => {
      const row = history.get(f.name);
      return {
        name: f.name,
        origin: f.origin,
        state: row === undefined ? 'pending' : row.checksum === f.checksum ? 'applied' : 'changed',
        checksum: f.checksum,
        appliedAt: row === undefined ? null : new Date(row.applied_at).toISOString(),
        reappliedAt: row?.reapplied_at == null ? null : new Date(row.reapplied_at).toISOString(),
      };
    }),
    teamDirectory: resources.config.seedsDir ?? null,
  };
}

const noChanges = (): SeedChanges => ({ customers: 0, locations: 0, packages: 0, shipments: 0, scans: 0, duplicateScans: 0 });

/** A reader over the run's transaction, for the consistency checks of what a file wrote. */
function transactionReader(trx: Knex.Transaction, mode: Database['mode'], distributed = false): ReportReader {
  return {
    rows: async <Row>(_name: string, sql: string, bindings: readonly unknown[] = []) =>
      (await trx.raw<{ rows: Row[] }>(sql, bindings as readonly Knex.RawBinding[])).rows,
    mode,
    distributed,
    plans: [],
    siblings: [],
  };
}

interface FileRunState {
  file: SeedFile;
  shown: string;
  changes: SeedChanges;
  outcomes: ScanOutcome[];
  highlights: SeedRunReport['highlights'];
  /**
   * The tracking numbers the run has written so far, all files together: what the proof reads on
   * the Citus layout, which keeps no list of changed packages (one server reads that list).
   */
  touched: Set<string>;
}

async function count(trx: Knex.Transaction, sql: string, bindings: readonly unknown[]): Promise<number> {
  return (await trx.raw<{ rows: unknown[] }>(sql, bindings as readonly Knex.RawBinding[])).rows.length;
}

/** A shipment on its package's natural key: updated only where it differs; returns the rows written. */
const shipmentUpsert = `on conflict (package_id) do update
     set origin_location_id = excluded.origin_location_id,
         destination_location_id = excluded.destination_location_id,
         estimated_delivery = excluded.estimated_delivery
   where (shipments.origin_location_id, shipments.destination_location_id, shipments.estimated_delivery)
         is distinct from (excluded.origin_location_id, excluded.destination_location_id, excluded.estimated_delivery)
  returning shipment_id`;

/**
 * Upserts packages and their shipments on the Citus layout, where the tracking number is unique
 * through package_numbers, not a constraint on packages: the numbers already there are updated by
 * package id (each on its shard), the new ones inserted with their lookup rows. Returns how many
 * packages and shipments changed.
 */
async function upsertPackagesDistributed(
  trx: Knex.Transaction,
  packages: readonly SeedPackage[],
  now: Date,
): Promise<{ packages: number; shipments: number }> {
  const found = await trx.raw<{ rows: { tracking_number: string; package_id: number }[] }>(
    'select tracking_number, package_id from package_numbers where tracking_number = any (?::text[])',
    [packages.map((p) => p.trackingNumber)],
  );
  const ids = new Map(found.rows.map((r) => [r.tracking_number, Number(r.package_id)]));
  let changedPackages = 0;
  for (const p of packages) {
    const id = ids.get(p.trackingNumber);
    const values = [p.sender, p.recipient, String(p.weightKg), JSON.stringify(p.metadata ?? {})];
    if (id !== undefined) {
      changedPackages += await count(
        trx,
        `update packages set sender_id = s.customer_id, recipient_id = r.customer_id, weight = v.weight, metadata = v.metadata
           from (select ?::text as sender, ?::text as recipient, ?::numeric as weight, ?::jsonb as metadata) v
           join customers s on lower(s.email) = lower(v.sender)
           join customers r on lower(r.email) = lower(v.recipient)
          where packages.package_id = ?
            and (packages.sender_id, packages.recipient_id, packages.weight, packages.metadata)
                is distinct from (s.customer_id, r.customer_id, v.weight, v.metadata)
          returning packages.package_id`,
        [...values, id],
      );
      continue;
    }
    const inserted = await trx.raw<{ rows: { package_id: number }[] }>(
      `insert into packages (tracking_number, sender_id, recipient_id, weight, metadata, created_at)
       select ?, s.customer_id, r.customer_id, ?::numeric, ?::jsonb, ?::timestamptz
         from customers s, customers r where lower(s.email) = lower(?) and lower(r.email) = lower(?)
       returning package_id`,
      [
        p.trackingNumber,
        String(p.weightKg),
        JSON.stringify(p.metadata ?? {}),
        (p.labelCreatedAt ?? now).toISOString(),
        p.sender,
        p.recipient,
      ],
    );
    const id2 = Number(inserted.rows[0]?.package_id);
    await trx.raw('insert into package_numbers (tracking_number, package_id) values (?, ?)', [p.trackingNumber, id2]);
    ids.set(p.trackingNumber, id2);
    changedPackages += 1;
  }
  let changedShipments = 0;
  for (const p of packages) {
    changedShipments += await count(
      trx,
      `insert into shipments (package_id, origin_location_id, destination_location_id, estimated_delivery)
       select ?::bigint, o.location_id, d.location_id, ?::timestamptz
         from locations o, locations d where o.location_name = ? and d.location_name = ?
       ${shipmentUpsert}`,
      [ids.get(p.trackingNumber), p.estimatedDelivery.toISOString(), p.origin, p.destination],
    );
  }
  return { packages: changedPackages, shipments: changedShipments };
}

/** The services a file gets, over the run's transaction. */
function seedServices(trx: Knex.Transaction, db: Database, resources: Resources, now: Date, run: FileRunState): SeedServices {
  const refuse = (line: number | undefined, message: string, details?: Record<string, unknown>): SeedFileError =>
    new SeedFileError(run.shown, line, message, details, undefined, ExitCode.conflict);
  const inTransaction: Database = {
    knex: trx,
    mode: db.mode,
    target: db.target,
    failure: () => db.failure(),
    distributed: db.distributed,
    close: () => Promise.resolve(),
  };
  /** Runs a write, turning a database error into a refusal at the seed file's line. */
  const write = async <T>(line: number | undefined, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof SeedFileError) throw error;
      const mapped = mapPostgresError(error);
      if (mapped instanceof ShiptrackError && mapped.exitCode === ExitCode.unavailable) throw mapped;
      throw refuse(line, mapped instanceof Error ? mapped.message : String(mapped));
    }
  };

  return {
    now,
    upsertCustomers: async (customers) => {
      const line = callerLine(run.file.modulePath);
      return write(line, async () => {
        run.changes.customers += await count(
          trx,
          `insert into customers (name, email, address)
           select * from unnest(?::text[], ?::text[], ?::text[])
           on conflict ((lower(email))) do update set name = excluded.name, address = excluded.address
            where (customers.name, customers.address) is distinct from (excluded.name, excluded.address)
           returning customer_id`,
          [customers.map((c) => c.name), customers.map((c) => c.email), customers.map((c) => c.address)],
        );
        const ids = await trx.raw<{ rows: { customer_id: number; email: string }[] }>(
          `select customer_id, lower(email) as email from customers where lower(email) = any (?::text[])`,
          [customers.map((c) => c.email.toLowerCase())],
        );
        return new Map(ids.rows.map((r) => [r.email, r.customer_id]));
      });
    },
    upsertLocations: async (locations) => {
      const line = callerLine(run.file.modulePath);
      await write(line, async () => {
        run.changes.locations += await count(
          trx,
          `insert into locations (location_name, city, state, location_type, time_zone)
           select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
           on conflict (location_name) do update
              set city = excluded.city, state = excluded.state, location_type = excluded.location_type, time_zone = excluded.time_zone
            where (locations.city, locations.state, locations.location_type, locations.time_zone)
                  is distinct from (excluded.city, excluded.state, excluded.location_type, excluded.time_zone)
           returning location_id`,
          (['location_name', 'city', 'state', 'location_type', 'time_zone'] as const).map((k) => locations.map((l) => l[k])),
        );
      });
    },
    upsertPackages: async (packages) => {
      const line = callerLine(run.file.modulePath);
      const invalid = packages.find((p) => !isValidTrackingNumber(p.trackingNumber));
      if (invalid !== undefined) throw refuse(line, `${invalid.trackingNumber} is not a valid tracking number`);
      await write(line, async () => {
        const unknown = await trx.raw<{ rows: { what: string }[] }>(
          `select 'customer ' || v.x as what from unnest(?::text[]) as v(x)
            where not exists (select 1 from customers c where lower(c.email) = lower(v.x))
           union all
           select 'location ' || v.x from unnest(?::text[]) as v(x)
            where not exists (select 1 from locations l where l.location_name = v.x)`,
          [packages.flatMap((p) => [p.sender, p.recipient]), packages.flatMap((p) => [p.origin, p.destination])],
        );
        if (unknown.rows.length > 0) throw refuse(line, `no ${unknown.rows[0]?.what ?? ''} (upsert it first)`);
        for (const p of packages) run.touched.add(p.trackingNumber);
        if (db.distributed === true) {
          const changes = await upsertPackagesDistributed(trx, packages, now);
          run.changes.packages += changes.packages;
          run.changes.shipments += changes.shipments;
          return;
        }
        run.changes.packages += await count(
          trx,
          `insert into packages (tracking_number, sender_id, recipient_id, weight, metadata, created_at)
           select v.tn, s.customer_id, r.customer_id, v.weight, v.metadata, v.created_at
             from unnest(?::text[], ?::text[], ?::text[], ?::numeric[], ?::jsonb[], ?::timestamptz[])
                  as v(tn, sender, recipient, weight, metadata, created_at)
             join customers s on lower(s.email) = lower(v.sender)
             join customers r on lower(r.email) = lower(v.recipient)
           on conflict (tracking_number) do update
              set sender_id = excluded.sender_id, recipient_id = excluded.recipient_id, weight = excluded.weight,
                  metadata = excluded.metadata
            where (packages.sender_id, packages.recipient_id, packages.weight, packages.metadata)
                  is distinct from (excluded.sender_id, excluded.recipient_id, excluded.weight, excluded.metadata)
           returning package_id`,
          [
            packages.map((p) => p.trackingNumber),
            packages.map((p) => p.sender),
            packages.map((p) => p.recipient),
            packages.map((p) => String(p.weightKg)),
            packages.map((p) => JSON.stringify(p.metadata ?? {})),
            packages.map((p) => (p.labelCreatedAt ?? now).toISOString()),
          ],
        );
        run.changes.shipments += await count(
          trx,
          `insert into shipments (package_id, origin_location_id, destination_location_id, estimated_delivery)
           select p.package_id, o.location_id, d.location_id, v.due
             from unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[]) as v(tn, origin, destination, due)
             join packages p on p.tracking_number = v.tn
             join locations o on o.location_name = v.origin
             join locations d on d.location_name = v.destination
           ${shipmentUpsert}`,
          [
            packages.map((p) => p.trackingNumber),
            packages.map((p) => p.origin),
            packages.map((p) => p.destination),
            packages.map((p) => p.estimatedDelivery.toISOString()),
          ],
        );
      });
    },
    recordScans: async (scans) => {
      const line = callerLine(run.file.modulePath);
      const now = new Date();
      const checked = scans.map((scan, i) => {
        const result = checkScan(scan, { now });
        if (!result.ok) throw refuse(line, `scan ${i + 1}: ${result.reason}`, { field: result.field });
        return result.scan;
      });
      const outcomes = await write(line, () =>
        writeScans({ db: inTransaction, documentsTarget: resources.documentsTarget }, checked),
      );
      for (const scan of checked) run.touched.add(scan.trackingNumber);
      const rejected = outcomes.find((o) => o.outcome === 'rejected');
      if (rejected !== undefined && rejected.outcome === 'rejected') {
        throw refuse(line, rejected.reason, { code: rejected.code, trackingNumber: rejected.trackingNumber });
      }
      const received: [number, string][] = [];
      outcomes.forEach((o, i) => {
        const at = scans[i]?.receivedAt;
        if (o.outcome === 'duplicate') run.changes.duplicateScans += 1;
        else if ('eventId' in o) {
          run.changes.scans += 1;
          if (at !== undefined) received.push([o.eventId, at.toISOString()]);
        }
      });
      if (received.length > 0) {
        // When each message reached us: what tells a late scan from one in order.
        await write(line, () =>
          // By (package, event): on Citus an event is updated on its package's shard; one server
          // finds the events the same way.
          trx.raw(
            `update tracking_events e set recorded_at = v.at
               from unnest(?::bigint[], ?::timestamptz[]) as v(id, at)
              where e.package_id = any (select package_id from tracking_events where event_id = any (?::bigint[]))
                and e.event_id = v.id`,
            [received.map(([id]) => id), received.map(([, at]) => at), received.map(([id]) => id)],
          ),
        );
      }
      run.outcomes.push(...outcomes);
      return outcomes;
    },
    highlight: (trackingNumber, story) => {
      run.highlights.push({ trackingNumber, story });
    },
  };
}

/** What the file wrote, proven: the consistency checks over every package the run touched so far. */
async function proveTouched(trx: Knex.Transaction, db: Database, run: FileRunState): Promise<void> {
  const distributed = db.distributed === true;
  const touched = distributed
    ? await trx.raw<{ rows: { package_id: number }[] }>(
        'select package_id from package_numbers where tracking_number = any (?::text[]) order by package_id',
        [[...run.touched]],
      )
    : await trx.raw<{ rows: { package_id: number }[] }>(
        'select distinct package_id from consistency_changes where xact = pg_current_xact_id() order by package_id',
      );
  const ids = touched.rows.map((r) => r.package_id);
  if (ids.length === 0) return;
  const report = await collectConsistencyChecks(transactionReader(trx, db.mode, distributed), ids);
  if (report.ok) return;
  const failed = report.checks.filter((c) => c.violations > 0);
  throw new SeedFileError(
    run.shown,
    undefined,
    `what it wrote fails the consistency checks: ${failed.map((c) => `${c.check} (${c.samples.join(', ')})`).join('; ')}`,
    { checks: failed },
    undefined,
    ExitCode.conflict,
  );
}

/**
 * `seed run`: the seed files (all, or those named), in order, in one transaction; each proven by
 * the consistency checks and recorded. Throws SeedFileError (nothing applied) for a file that
 * breaks a rule, UsageError for an unknown name (before any store is opened).
 */
export async function runSeedFiles(
  resources: Resources,
  request: { names?: readonly string[]; signal?: AbortSignal | undefined } = {},
): Promise<SeedRunReport> {
  const started = performance.now();
  const files = selectSeedFiles(listSeedFiles(resources.config), request.names ?? []);
  const modules = new Map<string, SeedModule>();
  for (const file of files) modules.set(file.name, await loadSeedModule(file));
  const db = await resources.forLongWork().database();
  // Whole seconds: the "now" is recorded, and reads back exactly the same.
  const runNow = new Date(Math.floor(Date.now() / 1000) * 1000);
  const runs: FileRunState[] = [];
  const results = await withSession(
    db,
    {
      signal: request.signal,
      statementTimeoutMs: 0,
      applicationName: 'shiptrack seed run',
      advisoryLock: {
        key: seedLock,
        waitMs: 0,
        busy: () =>
          new ConflictError('seed_running', 'another seed is running on this database', { hint: 'wait for it to finish' }),
      },
    },
    (session) =>
      session.transaction(async (trx) => {
        const history = await readHistory(trx);
        const done: SeedFileRun[] = [];
        const touched = new Set<string>();
        for (const file of files) {
          const fileStarted = performance.now();
          const recorded = history.get(file.name);
          const now = recorded === undefined ? runNow : new Date(recorded.applied_at);
          const run: FileRunState = {
            file,
            shown: displayPath(file.sourcePath),
            changes: noChanges(),
            outcomes: [],
            highlights: [],
            touched,
          };
          runs.push(run);
          const mod = modules.get(file.name) as SeedModule;
          await mod.seed(trx, seedServices(trx, db, resources, now, run));
          await proveTouched(trx, db, run);
          let result: SeedFileRun['result'] = 'rerun';
          if (recorded === undefined) {
            result = 'applied';
            await trx.raw(`insert into ${historyTable} (name, checksum, applied_at) values (?, ?, ?)`, [
              file.name,
              file.checksum,
              now.toISOString(),
            ]);
          } else if (recorded.checksum !== file.checksum) {
            result = 'reapplied';
            await trx.raw(`update ${historyTable} set checksum = ?, reapplied_at = now() where name = ?`, [
              file.checksum,
              file.name,
            ]);
          }
          done.push({
            name: file.name,
            origin: file.origin,
            result,
            changes: run.changes,
            asOf: now.toISOString(),
            seconds: (performance.now() - fileStarted) / 1000,
          });
        }
        return done;
      }),
  );
  const warnings = await afterScansCommitted(
    resources,
    runs.flatMap((r) => r.outcomes),
  );
  return {
    files: results,
    highlights: runs.flatMap((r) => r.highlights),
    warnings,
    seconds: (performance.now() - started) / 1000,
  };
}
