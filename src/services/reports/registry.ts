import { parseDay, parseMetadataFilters, parseSince } from '../../domain/report-filters.js';
import { UsageError } from '../../errors.js';
import { asOfOption, countOption, maxProofJobs, parseJobs, type OptionValue } from '../../options.js';
import type { Resources } from '../../store/resources.js';
import type { ReportResult, ReportSource } from './report.js';
import { formatNumber } from '../../domain/units.js';

/**
 * Every report, its options and how they are checked: the one registry both the CLI (which
 * builds `shiptrack report <name>` from it) and the library (`shiptrack.report(name, options)`)
 * run through. Options are given as people type them or as values; they are checked before any
 * query, and a bad one is a UsageError naming its flag.
 */

export interface ReportOptionSpec {
  /** The option's key in the values passed to `runReport` (camelCase of the flag). */
  key: string;
  /** As commander reads it: `--limit <n>`. */
  flags: string;
  description: string;
  default?: string;
  choices?: readonly string[];
  /** May be given several times (values collect into a list). */
  repeatable?: boolean;
  /** A flag without a value. */
  boolean?: boolean;
}

/** A report's values as given: strings from a command line, or numbers, dates and lists from a program. */
export type ReportValues = Record<string, OptionValue | Date | boolean | readonly string[] | undefined>;

export interface ReportRequest extends ReportValues {
  /** Relative windows (30d, yesterday, overdue) are computed as of this time (default: now). */
  asOf?: string | Date | undefined;
  /** Capture EXPLAIN (ANALYZE, BUFFERS) of each query; runs each query twice. */
  explain?: boolean | undefined;
  /** Read the primary even when read replicas are configured (a report reads a replica by default). */
  primary?: boolean | undefined;
}

interface Common {
  now: Date;
  explain: boolean;
  /** See ReportRequest.primary. */
  primary: boolean;
  signal: AbortSignal | undefined;
  applicationName: string;
}

export interface ReportDefinition {
  name: string;
  summary: string;
  /** A positional argument, when the report takes one (`customer <id|email>`). */
  argument?: { key: string; name: string; description: string };
  options: readonly ReportOptionSpec[];
  examples: readonly string[];
  /** More help for `--help`. */
  help?: readonly string[];
  /** Checks the values (before any store is opened: every `run` parses first), then runs. */
  run: (resources: Resources, common: Common, values: ReportValues) => Promise<ReportResult>;
}

const limitOption = (what: string, fallback: string, max = 10_000): ReportOptionSpec => ({
  key: 'limit',
  flags: '--limit <n>',
  description: `${what} (1–${formatNumber(max)})`,
  default: fallback,
});

export const jobsOption: ReportOptionSpec = {
  key: 'jobs',
  flags: '--jobs <n>',
  description: `database connections proving packages at once, on one snapshot (1–${maxProofJobs}; a server only)`,
  default: '2',
};

const value = (values: ReportValues, key: string, fallback: string): OptionValue => {
  const v = values[key];
  return typeof v === 'string' || typeof v === 'number' ? v : fallback;
};
const count = (values: ReportValues, key: string, flag: string, fallback: string, min: number, max: number): number =>
  countOption(value(values, key, fallback), flag, min, max);
const limit = (values: ReportValues, fallback: string, max = 10_000): number =>
  count(values, 'limit', '--limit', fallback, 1, max);
const choice = <T extends string>(values: ReportValues, key: string, flag: string, choices: readonly T[], fallback: T): T => {
  const v = String(value(values, key, fallback));
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got "${v}"`);
  return v as T;
};

const packages = () => import('./packages.report.js');
const network = () => import('./network.report.js');

/**
 * Runs a report of one prepared statement (none is on Citus). In a short-lived process (the CLI)
 * on a server whose pool is not open, it reads over one plain connection, the primary's or a
 * replica's as `readWith` chooses, so knex and its pool never load (about a tenth of such a
 * process); otherwise, and with --explain, through the pool like every other report.
 */
async function readOneStatement(
  r: Resources,
  common: Common,
  run: (source: ReportSource) => Promise<ReportResult>,
): Promise<ReportResult> {
  if (!r.shortLived || r.hasDatabase() || common.explain || r.config.databaseUrl === undefined) {
    return r.readWith({ primary: common.primary }, run);
  }
  const { statementSource } = await import('../../store/statement-source.js');
  const read = await r.readWithClient({ primary: common.primary }, async (client) => {
    const source = await statementSource(client);
    return source.distributed ? undefined : run(source);
  });
  return read ?? r.readWith({ primary: common.primary }, run);
}

export const reports: readonly ReportDefinition[] = [
  {
    name: 'status',
    summary: 'packages by current status, with shares',
    options: [],
    run: async (r, common) => readOneStatement(r, common, async (db) => (await packages()).runStatusReport(db, common)),
    examples: ['shiptrack report status', 'shiptrack report status --format markdown'],
  },
  {
    name: 'overdue',
    summary: 'past the estimated delivery and not delivered, oldest first',
    options: [limitOption('packages to list', '50')],
    run: async (r, common, v) => {
      const params = { ...common, limit: limit(v, '50') };
      return readOneStatement(r, common, async (db) => (await packages()).runOverdueReport(db, params));
    },
    examples: ['shiptrack report overdue --limit 20', 'shiptrack report overdue --format csv > overdue.csv'],
  },
  {
    name: 'lanes',
    summary: 'on-time rate and lateness percentiles per origin → destination',
    options: [
      {
        key: 'since',
        flags: '--since <when>',
        description: 'deliveries since: a duration (30d, 12h, 2w) or a date',
        default: '30d',
      },
      {
        key: 'by',
        flags: '--by <level>',
        description: 'what a lane joins',
        choices: ['state', 'city', 'location'],
        default: 'state',
      },
      {
        key: 'minShipments',
        flags: '--min-shipments <n>',
        description: 'lanes with fewer deliveries are not ranked',
        default: '20',
      },
      limitOption('lanes to list, worst first', '20'),
    ],
    run: async (r, common, v) => {
      const params = {
        since: parseSince(String(value(v, 'since', '30d')), common.now),
        by: choice(v, 'by', '--by', ['state', 'city', 'location'] as const, 'state'),
        minShipments: count(v, 'minShipments', '--min-shipments', '20', 1, 1_000_000),
        limit: limit(v, '20'),
      };
      return r.readWith({ primary: common.primary }, async (db) =>
        (await network()).runLanesReport(db, { ...common, ...params }),
      );
    },
    examples: [
      'shiptrack report lanes --since 30d',
      'shiptrack report lanes --by city --min-shipments 50 --format csv > lanes.csv',
    ],
  },
  {
    name: 'facilities',
    summary: 'scans, exceptions, dwell and scans per hour per facility on one day',
    options: [
      { key: 'day', flags: '--day <day>', description: 'the UTC day: YYYY-MM-DD, today or yesterday', default: 'yesterday' },
      { key: 'sort', flags: '--sort <by>', description: 'rank by', choices: ['scans', 'exceptions'], default: 'scans' },
      limitOption('facilities to list', '20'),
    ],
    run: async (r, common, v) => {
      const params = {
        day: parseDay(String(value(v, 'day', 'yesterday')), common.now),
        sort: choice(v, 'sort', '--sort', ['scans', 'exceptions'] as const, 'scans'),
        limit: limit(v, '20'),
      };
      return r.readWith({ primary: common.primary }, async (db) =>
        (await network()).runFacilitiesReport(db, { ...common, ...params }),
      );
    },
    examples: ['shiptrack report facilities --day 2026-11-20', 'shiptrack report facilities --sort exceptions --limit 10'],
  },
  {
    name: 'stale',
    summary: 'in flight with no scan for N hours',
    options: [
      { key: 'hours', flags: '--hours <n>', description: 'silence that makes a package stale', default: '48' },
      limitOption('packages to list', '50'),
    ],
    run: async (r, common, v) => {
      const params = { hours: count(v, 'hours', '--hours', '48', 1, 24 * 365), limit: limit(v, '50') };
      return readOneStatement(r, common, async (db) => (await packages()).runStaleReport(db, { ...common, ...params }));
    },
    examples: ['shiptrack report stale --hours 48'],
  },
  {
    name: 'exceptions',
    summary: 'exceptions and failed attempts by reason and facility',
    options: [
      { key: 'since', flags: '--since <when>', description: 'a duration (7d, 48h) or a date', default: '7d' },
      limitOption('facilities to list', '20'),
    ],
    run: async (r, common, v) => {
      const { runExceptionsReport, reasonSource } = await network();
      const params = {
        ...common,
        since: parseSince(String(value(v, 'since', '7d')), common.now),
        limit: limit(v, '20'),
        reasons: reasonSource(r.documentsTarget, () => r.documents()),
      };
      return r.readWith({ primary: common.primary }, (db) => runExceptionsReport(db, params));
    },
    examples: ['shiptrack report exceptions --since 7d'],
  },
  {
    name: 'customer',
    summary: "one customer's sent and received packages",
    argument: { key: 'customer', name: '<id|email>', description: 'customer id or e-mail address' },
    options: [limitOption('packages to list', '50')],
    run: async (r, common, v) => {
      const customer = String(value(v, 'customer', '')).trim();
      if (customer === '' || customer.length > 320) {
        throw new UsageError('customer: give a customer id (digits) or an e-mail address');
      }
      // Printable ASCII only: control and direction-changing characters never reach a query.
      if (!/^\d{1,18}$/.test(customer) && !/^[!-?A-~]+@[!-?A-~]+$/.test(customer)) {
        throw new UsageError(`customer: ${JSON.stringify(customer)} is neither a customer id nor an e-mail address`);
      }
      const params = { ...common, customer, limit: limit(v, '50') };
      return readOneStatement(r, common, async (db) => (await packages()).runCustomerReport(db, params));
    },
    examples: ['shiptrack report customer 42', 'shiptrack report customer ada@example.com --json'],
  },
  {
    name: 'metadata',
    summary: 'packages whose JSONB metadata matches --where key=value',
    options: [
      {
        key: 'where',
        flags: '--where <key=value>',
        description: 'repeatable; all must hold (a.b=1 reaches into objects)',
        repeatable: true,
      },
      limitOption('packages to list', '20'),
    ],
    run: async (r, common, v) => {
      const where = v.where;
      const terms = Array.isArray(where) ? where : typeof where === 'string' ? [where] : [];
      const filter = parseMetadataFilters(terms as string[]);
      const params = { ...common, filter, limit: limit(v, '20') };
      const report = await packages();
      const run = (db: ReportSource): Promise<ReportResult> => report.runMetadataReport(db, params);
      return report.metadataByFacets(filter) === undefined
        ? r.readWith({ primary: common.primary }, run)
        : readOneStatement(r, common, run);
    },
    examples: [
      'shiptrack report metadata --where fragile=true',
      'shiptrack report metadata --where service=express --where signature_required=true',
    ],
  },
  {
    name: 'db',
    summary: 'DBA: sizes, unused and duplicate indexes, cache hit ratio, dead tuples, slowest statements',
    options: [
      limitOption('rows per table', '20', 1000),
      {
        key: 'since',
        flags: '--since <when>',
        description: 'what got slower, started or stopped since: a duration (24h, 7d) or a date',
      },
      {
        key: 'advise',
        flags: '--advise',
        description: 'try hypothetical indexes (hypopg) for the slowest statements; slower',
        boolean: true,
      },
    ],
    help: [
      "On a server with pg_stat_statements, each run keeps a snapshot of the statements' counters in",
      'the document store (30 days); --since compares the counters now with the snapshot taken at',
      "or just before that moment. --advise costs each slow statement's generic plan with candidate",
      'indexes that hypopg makes hypothetical (nothing is built) and recommends one only where the',
      "planner's cost falls 2× or more; it needs `create extension hypopg` (postgresql-NN-hypopg).",
    ],
    run: async (r, common, v) => {
      const since = typeof v.since === 'string' ? parseSince(v.since, common.now) : undefined;
      const params = { ...common, limit: limit(v, '20', 1000), since, advise: v.advise === true };
      return (await import('./db.report.js')).runDbReport(await r.database(), params, () => r.documents());
    },
    examples: [
      'shiptrack report db',
      'shiptrack report db --since 24h',
      'shiptrack report db --advise',
      'shiptrack report db --format markdown > db-health.md',
    ],
  },
  {
    name: 'benchmarks',
    summary: 'stored benchmark runs, newest first, with their headline latencies',
    options: [
      limitOption('runs to list', '20', 1000),
      { key: 'suite', flags: '--suite <name>', description: 'only runs of this suite' },
    ],
    run: async (r, common, v) => {
      const { runBenchmarksReport } = await import('./benchmarks.report.js');
      const suite = v.suite;
      if (typeof suite === 'string' && suite !== '' && !/^[a-z0-9_-]{1,40}$/i.test(suite)) {
        throw new UsageError(`--suite: "${suite.slice(0, 40)}" is not a suite name (letters, digits, _ and -, at most 40)`);
      }
      const params = {
        ...common,
        limit: limit(v, '20', 1000),
        suite: typeof suite === 'string' && suite !== '' ? suite : undefined,
      };
      return runBenchmarksReport(await r.documents(), params);
    },
    examples: ['shiptrack report benchmarks', 'shiptrack report benchmarks --suite tuning --json'],
  },
  {
    name: 'consistency',
    summary: 'cross-store checks; exits 4 when anything is wrong (for cron)',
    options: [
      jobsOption,
      { key: 'sample', flags: '--sample <n>', description: 'raw scan documents to compare with their events', default: '500' },
      {
        key: 'packages',
        flags: '--packages <n>',
        description: 'spot check: prove only n packages drawn at random, with their whole histories (default: all)',
      },
      {
        key: 'full',
        flags: '--full',
        description: 'prove every package, not only those changed since the last full proof',
        boolean: true,
      },
    ],
    help: [
      'It proves every package against its whole history. The first run reads them all (seconds at',
      '1M packages, minutes at 10M) and records the proof when it is clean; later runs read only the',
      'packages changed since, which triggers list as they are written (at 1M packages: ~65 ms for',
      '1,000 changed, ~330 ms for 10,000). After a seed, a TRUNCATE, a proof that found violations or',
      'a release with other checks, the next run is full again.',
      'A read-only role or a standby builds on the proof recorded on the primary but cannot',
      'record its own: the changes it proves stay listed until a writing run on the primary.',
      'After a failover, a restore, or writes with the triggers disabled, run --full.',
      'Like `check`, it runs without the statement timeout; Ctrl-C cancels it on the server.',
      '--jobs 1 leaves the database a core to spare; more jobs help when it has idle cores.',
    ],
    run: async (r, common, v) => {
      const { runConsistencyReport } = await import('./consistency.report.js');
      const spot = v.packages;
      const settings = {
        sample: count(v, 'sample', '--sample', '500', 0, 100_000),
        packages: spot === undefined || spot === '' ? undefined : count(v, 'packages', '--packages', '', 1, 1_000_000),
        connections: parseJobs(value(v, 'jobs', '2')),
        full: v.full === true,
      };
      if (settings.full && settings.packages !== undefined) {
        throw new UsageError('--full and --packages ask for different proofs: every package, or a random few');
      }
      // It reads every event by design (minutes at 80M events), like `check`: no statement timeout.
      const long = r.forLongWork();
      return runConsistencyReport(await long.database(), await long.documents(), { ...common, ...settings });
    },
    examples: [
      'shiptrack report consistency || alert-oncall                    # every few minutes: the packages changed since the last proof',
      'shiptrack report consistency --full || alert-oncall             # weekly: every package again',
      'shiptrack report consistency --packages 10000                   # a spot check of 10,000 packages drawn at random',
    ],
  },
];

export const reportNames: readonly string[] = reports.map((r) => r.name);

/** Edits (insert, delete, replace, swap two neighbours) between two short words. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((up[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (up[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] ?? 0, ((d[i - 2] as number[])[j - 2] ?? 0) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] ?? Number.POSITIVE_INFINITY;
}

/** The report called `name` (any case), or a UsageError listing the reports, with the close ones first. */
export function findReport(name: string): ReportDefinition {
  const wanted = name.trim().toLowerCase();
  const found = reports.find((r) => r.name === wanted);
  if (found !== undefined) return found;
  const close = reportNames
    .map((r) => ({ r, d: r.startsWith(wanted) && wanted.length >= 2 ? 0 : distance(wanted, r) }))
    .filter(({ r, d }) => d <= Math.max(1, Math.floor(r.length / 3)))
    .sort((a, b) => a.d - b.d)
    .map(({ r }) => r);
  const shown = `'${name.slice(0, 40)}'`;
  throw new UsageError(
    `unknown report ${shown}${close.length > 0 ? ` (did you mean ${close.slice(0, 2).join(' or ')}?)` : ''}; the reports are ${reportNames.join(', ')}`,
  );
}

/** Runs a report: its options are checked before any store is opened. */
export async function runReport(
  resources: Resources,
  name: string,
  request: ReportRequest = {},
  signal?: AbortSignal,
): Promise<ReportResult> {
  const definition = findReport(name);
  const now = asOfOption(request.asOf);
  const common = {
    now,
    explain: request.explain === true,
    primary: request.primary === true,
    signal,
    applicationName: `shiptrack report ${definition.name}`,
  };
  return definition.run(resources, common, request);
}
