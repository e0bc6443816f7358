import { loadConfig, type Config, type SettingName } from './config.js';
import type { ScanRecord } from './domain/scan-input.js';
import { countOption, type OptionValue } from './options.js';
import type { BenchmarkOutcome, BenchmarkRequest } from './services/benchmark/benchmark.service.js';
import type { CheckReport, RollupRepair } from './services/check.service.js';
import type { DoctorReport } from './services/doctor.service.js';
import type {
  DryRunResult,
  LatestResult,
  LockHolder,
  HistoryChange,
  MigrateRequest,
  MigrationReport,
  MigrationRunResult,
  RevertPlan,
} from './services/migrations.service.js';
import type { DrainResult, OutboxStatus } from './services/outbox.service.js';
import type { LintResult } from './services/migration-lint.js';
import type { ReportResult } from './services/reports/report.js';
import type { ReportRequest } from './services/reports/registry.js';
import type {
  FieldLabels,
  RecordedOutcome,
  RecordedScans,
  ScanStreamOptions,
  ScanStreamSummary,
} from './services/scan.service.js';
import type { SeedListing, SeedRunReport } from './services/seed-files.service.js';
import type { SeedReport, SeedRequest } from './services/seed.service.js';
import type { TrackAnswer, TrackOptions, WatchOptions } from './services/track.service.js';
import type { ServiceWarning } from './services/warnings.js';
import { openResources, type Resources } from './store/resources.js';

/**
 * The library's one entry: an opened, async-disposable handle with every use case the CLI has.
 * The CLI is a thin shell over it, so a program gets exactly what `shiptrack <command>` does —
 * the cache dropped after a scan, the outbox delivered, the locks, the limits. Stores open on
 * first use and close with the handle; service modules load when first called.
 */

export interface ShiptrackOptions {
  /** Settings by name (databaseUrl, redisUrl, mongoUrl, home, …); they win over the environment. */
  settings?: Partial<Record<SettingName, string>>;
  /** Where settings are read from (default: process.env); `false` reads no environment. */
  env?: NodeJS.ProcessEnv | false;
  /** Where `.env` and a relative home are found (default: the current directory). */
  cwd?: string;
  /** A .env file to read, or null for none (default: `.env` in cwd). */
  envFile?: string | null;
  /** Ends every running call when aborted (each call may also take its own signal). */
  signal?: AbortSignal;
  /** One-time notices about the mode in force (e.g. the cache being off). */
  onNotice?: (line: string) => void;
  /** What happened to a read on the way (a replica skipped, failed, or none qualifying), each time. */
  onAlert?: (line: string) => void;
}

/** How the CLI opens its handle: a config it read already, and a process that ends with the command. */
export interface HandleOptions {
  signal?: AbortSignal | undefined;
  onNotice?: ((line: string) => void) | undefined;
  onAlert?: ((line: string) => void) | undefined;
  /** A process that runs one command: one-query reads take a plain connection, not a pool. */
  shortLived?: boolean | undefined;
  /** Told when the work waits for another process (the embedded database it has open). */
  onWait?: ((line: string) => void) | undefined;
}

export interface Signalled {
  signal?: AbortSignal | undefined;
}

/** A rollback as asked for: `confirm` sees what it would revert and drop, and may refuse. */
export type RevertRequest = MigrateRequest & { confirm?: ((plan: RevertPlan) => Promise<boolean>) | undefined };

export interface MigrationsApi {
  /** Applies every pending migration, then sets up MongoDB's collections (when configured). */
  latest(request?: MigrateRequest): Promise<LatestResult>;
  /** The SQL each pending migration would run; nothing changes. */
  preview(request?: MigrateRequest): Promise<DryRunResult>;
  /** Applies the next `count` pending migrations as one batch. */
  up(count?: OptionValue, request?: MigrateRequest): Promise<MigrationRunResult>;
  /** Reverts the last `count` applied migrations (`confirm` sees the plan first and may refuse). */
  down(count?: OptionValue, request?: RevertRequest): Promise<MigrationRunResult>;
  /** Reverts the last batch, or every applied migration with `all`. */
  rollback(options?: { all?: boolean }, request?: RevertRequest): Promise<MigrationRunResult>;
  /** What `down`/`rollback` would revert and drop (tables with their rows); nothing changes. */
  previewRevert(scope: { count?: OptionValue; all?: boolean }, request?: MigrateRequest): Promise<RevertPlan>;
  status(request?: MigrateRequest): Promise<MigrationReport>;
  /** Who holds the migration lock; with `force`, ends that session. */
  unlock(force?: boolean): Promise<{ holder: LockHolder | null; terminated: boolean }>;
  /**
   * Writes a new migration file: in `directory`, else the team's folder (SHIPTRACK_MIGRATIONS_DIR,
   * or ./migrations); `built` says whether it needs `npm run build` (shiptrack's own, TypeScript).
   */
  make(name: string, directory?: string): Promise<{ file: string; built: boolean }>;
  /**
   * After a reviewed, deliberate edit of applied migrations: records their files' checksums as
   * applied (all changed ones, or `names`), with `reason`, in shiptrack_migration_repairs.
   */
  repair(request: MigrateRequest & { names?: readonly string[]; reason: string }): Promise<{ repaired: HistoryChange[] }>;
  /**
   * For a schema made by hand: records the migrations through `through` (default all) as applied
   * without running them, with `reason`; refused when any migration is recorded already.
   */
  baseline(request: MigrateRequest & { through?: string; reason: string }): Promise<{ baselined: HistoryChange[] }>;
  /**
   * Lints the pending migrations (or `names`, or `all`): each statement parsed with PostgreSQL's
   * grammar and checked for what would lock or rewrite a busy table. `ok` is false when a finding
   * would stop `latest`.
   */
  lint(request?: MigrateRequest & { names?: readonly string[]; all?: boolean }): Promise<LintResult>;
}

export interface OutboxApi {
  /** Delivers every due document to the document store now (idempotent). */
  drain(options?: Signalled): Promise<DrainResult>;
  status(): Promise<Omit<OutboxStatus, 'failing'>>;
}

export interface SeedsApi {
  /**
   * Runs the seed files (all, or those named) in name order, shiptrack's then the team's
   * (SHIPTRACK_SEEDS_DIR), in one transaction: idempotent, each proven by the consistency checks
   * and recorded. A file that breaks a rule throws SeedFileError (exit 2) and nothing is applied.
   */
  run(request?: { names?: readonly string[] } & Signalled): Promise<SeedRunReport>;
  /** The seed files, and whether and when each was applied to this database. */
  list(): Promise<SeedListing>;
}

export interface Shiptrack extends AsyncDisposable {
  readonly config: Config;
  /** Where are these packages: summary and timeline, through the cache when Redis is configured. */
  track(numbers: string | readonly string[], options?: TrackOptions): Promise<TrackAnswer>;
  /** Calls back with each change to the packages' timelines until the signal aborts. */
  watch(numbers: readonly string[], options: WatchOptions): Promise<void>;
  /**
   * Records one scan (its time defaults to now); throws when it cannot be recorded. `labels`
   * names the fields in error messages (the CLI passes its flags).
   */
  recordScan(
    scan: ScanRecord,
    options?: Signalled & { labels?: FieldLabels },
  ): Promise<{ outcome: RecordedOutcome; warnings: ServiceWarning[] }>;
  /** Records scans in one transaction; a refused scan is an outcome, not an error. */
  recordScans(scans: readonly ScanRecord[], options?: Signalled): Promise<RecordedScans>;
  /** Records a stream of NDJSON lines (a scans file) in batches. */
  recordScanLines(lines: AsyncIterable<string>, options?: ScanStreamOptions): Promise<ScanStreamSummary>;
  seed(request?: SeedRequest): Promise<SeedReport>;
  /** The seed files of `seeds/` and SHIPTRACK_SEEDS_DIR: `seed run`, `seed list`. */
  readonly seeds: SeedsApi;
  /** Proves every package's consistency; `ok` false names the violations. */
  check(options?: { jobs?: OptionValue; repairRollups?: boolean } & Signalled): Promise<CheckReport & { repair?: RollupRepair }>;
  /**
   * Rebuilds the maintained rollups (packages per status, packages in flight) from the data,
   * writes to the three tables held off meanwhile: the repair when `check` finds them stale.
   */
  repairRollups(options?: Signalled): Promise<RollupRepair>;
  /** Runs a report by name (status, overdue, lanes, …) with its options. */
  report(name: string, request?: ReportRequest & Signalled): Promise<ReportResult>;
  readonly migrations: MigrationsApi;
  readonly outbox: OutboxApi;
  /** Each configured store: reachable, version, latency, migration state. */
  doctor(): Promise<DoctorReport>;
  benchmark(request?: BenchmarkRequest): Promise<BenchmarkOutcome>;
  /** Closes every store the handle opened, in reverse order. */
  close(): Promise<void>;
}

/** The handle's signal and a call's own, as one. */
function either(handle: AbortSignal | undefined, call: AbortSignal | undefined): AbortSignal | undefined {
  if (handle === undefined) return call;
  if (call === undefined) return handle;
  return AbortSignal.any([handle, call]);
}

/** A handle over a configuration already read (the CLI's way in; programs use openShiptrack). */
export function createShiptrack(config: Config, options: HandleOptions = {}): Shiptrack {
  const resources: Resources = openResources(config, {
    shortLived: options.shortLived,
    notice: options.onNotice,
    alert: options.onAlert,
    onWait: options.onWait,
  });
  const signalOf = (call?: AbortSignal): AbortSignal | undefined => either(options.signal, call);
  const migrate = () => import('./services/migrations.service.js');
  const withSignal = (request: MigrateRequest = {}): MigrateRequest => ({ ...request, signal: signalOf(request.signal) });

  const handle: Shiptrack = {
    config,
    async track(numbers, trackOptions) {
      return (await import('./services/track.service.js')).trackPackages(resources, numbers, trackOptions);
    },
    async watch(numbers, watchOptions) {
      const { watchPackages } = await import('./services/track.service.js');
      return watchPackages(resources, numbers, { ...watchOptions, signal: signalOf(watchOptions.signal) ?? watchOptions.signal });
    },
    async recordScan(scan, scanOptions = {}) {
      return (await import('./services/scan.service.js')).recordScan(resources, scan, scanOptions.labels);
    },
    async recordScans(scans) {
      return (await import('./services/scan.service.js')).recordScans(resources, scans);
    },
    async recordScanLines(lines, streamOptions = {}) {
      // Listening starts now, before the module loads: a readline interface drops the lines it
      // reads while no iterator listens.
      const input = lines[Symbol.asyncIterator]();
      const { recordScanLines } = await import('./services/scan.service.js');
      const stream = { [Symbol.asyncIterator]: () => input };
      return recordScanLines(resources, stream, { ...streamOptions, signal: signalOf(streamOptions.signal) });
    },
    async seed(request = {}) {
      return (await import('./services/seed.service.js')).seed(resources, { ...request, signal: signalOf(request.signal) });
    },
    seeds: {
      run: async (request = {}) =>
        (await import('./services/seed-files.service.js')).runSeedFiles(resources, {
          names: request.names,
          signal: signalOf(request.signal),
        }),
      list: async () => (await import('./services/seed-files.service.js')).listSeeds(resources),
    },
    async check(checkOptions = {}) {
      const { checkConsistency } = await import('./services/check.service.js');
      return checkConsistency(resources, { ...checkOptions, signal: signalOf(checkOptions.signal) });
    },
    async repairRollups(repairOptions = {}) {
      const { repairRollups } = await import('./services/check.service.js');
      return repairRollups(resources, { signal: signalOf(repairOptions.signal) });
    },
    async report(name, request = {}) {
      const { runReport } = await import('./services/reports/registry.js');
      return runReport(resources, name, request, signalOf(request.signal));
    },
    migrations: {
      latest: async (request) => (await migrate()).migrateToLatest(resources, withSignal(request)),
      preview: async (request) => (await migrate()).previewMigrations(resources, withSignal(request)),
      up: async (count = 1, request) => (await migrate()).applyMigrations(resources, count, withSignal(request)),
      down: async (count = 1, request = {}) => {
        const scope = { kind: 'count', count: countOption(count, '--count', 1, 1_000_000) } as const;
        return (await migrate()).revertMigrations(resources, scope, { ...withSignal(request), confirm: request.confirm });
      },
      rollback: async (rollback = {}, request = {}) => {
        const scope = rollback.all === true ? ({ kind: 'all' } as const) : ({ kind: 'batch' } as const);
        return (await migrate()).revertMigrations(resources, scope, { ...withSignal(request), confirm: request.confirm });
      },
      previewRevert: async (scope, request) => {
        const revert =
          scope.count !== undefined
            ? ({ kind: 'count', count: countOption(scope.count, '--count', 1, 1_000_000) } as const)
            : scope.all === true
              ? ({ kind: 'all' } as const)
              : ({ kind: 'batch' } as const);
        return (await migrate()).previewRevert(resources, revert, withSignal(request));
      },
      status: async (request) => (await migrate()).readMigrationStatus(resources, withSignal(request)),
      unlock: async (force) => (await migrate()).releaseMigrationLock(resources, force),
      make: async (name, directory) => (await migrate()).createMigration(config, name, directory),
      repair: async (request) => (await migrate()).repairHistory(resources, withSignal(request)),
      lint: async (request = {}) => (await migrate()).lintHistory(resources, withSignal(request)),
      baseline: async (request) => (await migrate()).baselineHistory(resources, withSignal(request)),
    },
    outbox: {
      drain: async (drainOptions = {}) =>
        (await import('./services/outbox.service.js')).drainDocuments(resources, { signal: signalOf(drainOptions.signal) }),
      status: async () => (await import('./services/outbox.service.js')).readOutbox(resources),
    },
    async doctor() {
      return (await import('./services/doctor.service.js')).runDoctor(resources);
    },
    async benchmark(request = {}) {
      const { runBenchmarkSuite } = await import('./services/benchmark/benchmark.service.js');
      return runBenchmarkSuite(resources, { ...request, signal: signalOf(request.signal) });
    },
    close: () => resources.close(),
    [Symbol.asyncDispose]: () => resources.close(),
  };
  return handle;
}

/**
 * Opens shiptrack as a library: settings from `options.settings`, then the environment, then
 * `.env`, then the defaults (the embedded database under `.shiptrack` when no server is named).
 * Throws a ConfigError naming a bad setting. Close it with `close()`, or `await using`.
 */
export async function openShiptrack(options: ShiptrackOptions = {}): Promise<Shiptrack> {
  const config = loadConfig({
    flags: options.settings,
    env: options.env === false ? {} : options.env,
    cwd: options.cwd,
    envFile: options.envFile,
  });
  return Promise.resolve(
    createShiptrack(config, { signal: options.signal, onNotice: options.onNotice, onAlert: options.onAlert }),
  );
}
