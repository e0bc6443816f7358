import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';
import { formatDuration, parseDuration } from './options.js';
import { redactUrl, secretsInUrls } from './redact.js';
import { parseRedisEndpoints } from './store/redis-url.js';

/** Where a setting's value came from, for `doctor` and for error messages. */
export type SettingSource = 'flag' | 'environment' | '.env' | 'default';

export interface Config {
  /** PostgreSQL server URL; undefined means the embedded PostgreSQL (PGlite) under `home`. */
  readonly databaseUrl: string | undefined;
  /**
   * Streaming replicas of the primary at `databaseUrl`: reads that tolerate a bounded lag go there
   * (store/replicas.ts). Empty: every read goes to the primary.
   */
  readonly replicaUrls: readonly string[];
  /** A replica further behind than this is skipped; when none qualifies, the primary serves. */
  readonly maxReplicaLagMs: number;
  /** Redis URL; undefined means the cache and live channel are off. */
  readonly redisUrl: string | undefined;
  /** MongoDB URL; undefined means documents are kept in PostgreSQL (JSONB). */
  readonly mongoUrl: string | undefined;
  readonly mongoDatabase: string;
  /** Data directory of the embedded database. */
  readonly home: string;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly redisCommandTimeoutMs: number;
  /** Most PostgreSQL connections one process opens at once (the pool's size). */
  readonly poolSize: number;
  /** A server that has not answered a liveness check for this long is declared gone. */
  readonly livenessTimeoutMs: number;
  /** A team's own migrations folder; undefined: `./migrations` when it exists and is not shiptrack's own. */
  readonly migrationsDir: string | undefined;
  /** A team's own seed files (SHIPTRACK_SEEDS_DIR), run after shiptrack's. */
  readonly seedsDir: string | undefined;
  readonly sources: Readonly<Record<SettingName, SettingSource>>;
  /** Passwords found in the configured URLs, for the output scrubber. */
  readonly secrets: readonly string[];
}

export type SettingName =
  | 'databaseUrl'
  | 'replicaUrls'
  | 'maxReplicaLagMs'
  | 'redisUrl'
  | 'mongoUrl'
  | 'mongoDatabase'
  | 'home'
  | 'connectTimeoutMs'
  | 'statementTimeoutMs'
  | 'lockTimeoutMs'
  | 'redisCommandTimeoutMs'
  | 'poolSize'
  | 'livenessTimeoutMs'
  | 'migrationsDir'
  | 'seedsDir';

/** A global command-line flag that sets a setting. */
export interface SettingFlag {
  /** `--database-url` */
  readonly name: string;
  /** `<url>` */
  readonly value: string;
  readonly description: string;
  /** Given more than once, the values are joined with commas (a list setting). */
  readonly repeatable?: boolean;
}

interface SettingSpec {
  /** Environment variables, first one wins. */
  readonly env: readonly string[];
  /** The global command-line flag, for the settings that have one. */
  readonly flag?: SettingFlag;
  readonly default: string | undefined;
  readonly parse: (value: string) => Parsed;
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

// Hand-written rather than zod: these few checks run on every command, and loading zod costs
// ~30 ms, more than half of a bare `node -e 0` — too much for `shiptrack track` at a terminal.
function urlParser(protocols: readonly string[], what: string) {
  return (value: string): Parsed => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return { ok: false, message: `not a valid URL (expected ${what})` };
    }
    if (!protocols.includes(url.protocol)) return { ok: false, message: `expected ${what}, got a ${url.protocol}// URL` };
    return { ok: true, value };
  };
}

/** Through the one duration grammar (options.ts): a bare number is milliseconds. */
function durationParser(min: number, max: number) {
  return (value: string): Parsed => {
    const ms = parseDuration(value);
    if (ms === undefined) return { ok: false, message: `"${value}" is not a duration (use e.g. 500ms, 5s, 2m)` };
    if (ms < min || ms > max) {
      return { ok: false, message: `must be from ${formatDuration(min)} to ${formatDuration(max)}, got ${formatDuration(ms)}` };
    }
    return { ok: true, value: ms };
  };
}

function countParser(min: number, max: number) {
  return (value: string): Parsed => {
    const n = Number(value.trim());
    return Number.isInteger(n) && n >= min && n <= max
      ? { ok: true, value: n }
      : { ok: false, message: `expected a whole number from ${min} to ${max}, got "${value}"` };
  };
}

/**
 * The settings table: the one source of the environment variables, the global flags (the CLI
 * defines its options and finds the command from it), the defaults and the checks. The README's
 * configuration table mirrors it.
 */
export const settings: Readonly<Record<SettingName, SettingSpec>> = {
  databaseUrl: {
    env: ['SHIPTRACK_DATABASE_URL', 'DATABASE_URL'],
    flag: { name: '--database-url', value: '<url>', description: 'PostgreSQL URL (env SHIPTRACK_DATABASE_URL)' },
    default: undefined,
    parse: urlParser(['postgres:', 'postgresql:'], 'a postgres:// URL'),
  },
  replicaUrls: {
    env: ['SHIPTRACK_REPLICA_URLS'],
    flag: {
      name: '--replica-url',
      value: '<url>',
      description: 'a streaming replica of the primary, for reads (repeatable; env SHIPTRACK_REPLICA_URLS, comma-separated)',
      repeatable: true,
    },
    default: undefined,
    parse: (value) => {
      const urls = value
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
      if (urls.length > 16) return { ok: false, message: `at most 16 replicas, got ${urls.length}` };
      for (const [i, url] of urls.entries()) {
        const parsed = urlParser(['postgres:', 'postgresql:'], 'postgres:// URLs separated by commas')(url);
        if (!parsed.ok) return { ok: false, message: `replica ${i + 1}: ${parsed.message}` };
      }
      return { ok: true, value: urls };
    },
  },
  maxReplicaLagMs: { env: ['SHIPTRACK_MAX_REPLICA_LAG'], default: '5s', parse: durationParser(0, 86_400_000) },
  redisUrl: {
    env: ['SHIPTRACK_REDIS_URL', 'REDIS_URL'],
    flag: {
      name: '--redis-url',
      value: '<url>',
      description: 'Redis URL; several host:port pairs separated by commas: a Redis Cluster (env SHIPTRACK_REDIS_URL)',
    },
    default: undefined,
    // Several host:port pairs separated by commas: the seed nodes of a Redis Cluster.
    parse: (value) => {
      const parsed = parseRedisEndpoints(value);
      return 'error' in parsed ? { ok: false, message: parsed.error } : { ok: true, value };
    },
  },
  mongoUrl: {
    env: ['SHIPTRACK_MONGO_URL', 'MONGO_URL'],
    flag: { name: '--mongo-url', value: '<url>', description: 'MongoDB URL (env SHIPTRACK_MONGO_URL)' },
    default: undefined,
    parse: urlParser(['mongodb:', 'mongodb+srv:'], 'a mongodb:// URL'),
  },
  mongoDatabase: {
    env: ['SHIPTRACK_MONGO_DB'],
    flag: {
      name: '--mongo-db',
      value: '<name>',
      description: 'MongoDB database name (env SHIPTRACK_MONGO_DB, default shiptrack)',
    },
    default: 'shiptrack',
    parse: (value) =>
      /^[A-Za-z0-9_-]{1,63}$/.test(value)
        ? { ok: true, value }
        : { ok: false, message: 'letters, digits, _ and - only (at most 63)' },
  },
  home: {
    env: ['SHIPTRACK_HOME'],
    flag: { name: '--home', value: '<dir>', description: 'data directory of the embedded database (env SHIPTRACK_HOME)' },
    default: '.shiptrack',
    parse: (value) => (value.trim() === '' ? { ok: false, message: 'must not be empty' } : { ok: true, value }),
  },
  connectTimeoutMs: { env: ['SHIPTRACK_CONNECT_TIMEOUT'], default: '3s', parse: durationParser(100, 600_000) },
  statementTimeoutMs: { env: ['SHIPTRACK_STATEMENT_TIMEOUT'], default: '30s', parse: durationParser(0, 86_400_000) },
  lockTimeoutMs: { env: ['SHIPTRACK_LOCK_TIMEOUT'], default: '5s', parse: durationParser(0, 86_400_000) },
  redisCommandTimeoutMs: { env: ['SHIPTRACK_REDIS_TIMEOUT'], default: '500ms', parse: durationParser(10, 60_000) },
  poolSize: { env: ['SHIPTRACK_POOL_SIZE'], default: '10', parse: countParser(2, 100) },
  livenessTimeoutMs: { env: ['SHIPTRACK_LIVENESS_TIMEOUT'], default: '10s', parse: durationParser(1000, 600_000) },
  migrationsDir: {
    env: ['SHIPTRACK_MIGRATIONS_DIR'],
    default: undefined,
    parse: (value) => (value.trim() === '' ? { ok: false, message: 'must not be empty' } : { ok: true, value }),
  },
  seedsDir: {
    env: ['SHIPTRACK_SEEDS_DIR'],
    default: undefined,
    parse: (value) => (value.trim() === '' ? { ok: false, message: 'must not be empty' } : { ok: true, value }),
  },
};

/** The setting a global flag sets, by the flag's name. */
export const settingByFlag: ReadonlyMap<string, SettingName> = new Map(
  (Object.keys(settings) as SettingName[]).flatMap((name) => {
    const flag = settings[name].flag;
    return flag === undefined ? [] : [[flag.name, name] as const];
  }),
);

export interface ConfigInputs {
  /** Values from command-line flags, by setting name. */
  flags?: Partial<Record<SettingName, string | undefined>>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Path of the .env file; defaults to `.env` in cwd. Set to null to ignore .env files. */
  envFile?: string | null;
}

function readDotEnv(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  try {
    return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (error) {
    throw new ConfigError(file, `could not be read: ${(error as Error).message}`);
  }
}

function describeValue(name: SettingName, value: string): string {
  return name.endsWith('Url') ? redactUrl(value) : name === 'replicaUrls' ? value.split(',').map(redactUrl).join(',') : value;
}

/** Builds the one validated, frozen configuration: flags > environment > .env > defaults. */
export function loadConfig(inputs: ConfigInputs = {}): Config {
  const env = inputs.env ?? process.env;
  const cwd = inputs.cwd ?? process.cwd();
  const dotEnv = inputs.envFile === null ? {} : readDotEnv(inputs.envFile ?? path.join(cwd, '.env'));
  const values = {} as Record<SettingName, unknown>;
  const sources = {} as Record<SettingName, SettingSource>;

  for (const name of Object.keys(settings) as SettingName[]) {
    const spec = settings[name];
    let raw: string | undefined;
    let source: SettingSource = 'default';
    let label = name as string;
    const flag = inputs.flags?.[name];
    if (flag !== undefined) {
      raw = flag;
      source = 'flag';
      label = spec.flag?.name ?? name;
    } else {
      const fromEnv = spec.env.find((key) => env[key] !== undefined && env[key] !== '');
      const fromDotEnv = spec.env.find((key) => dotEnv[key] !== undefined && dotEnv[key] !== '');
      if (fromEnv !== undefined) {
        raw = env[fromEnv];
        source = 'environment';
        label = fromEnv;
      } else if (fromDotEnv !== undefined) {
        raw = dotEnv[fromDotEnv];
        source = '.env';
        label = `${fromDotEnv} (in .env)`;
      } else {
        raw = spec.default;
      }
    }
    sources[name] = source;
    if (raw === undefined) {
      values[name] = undefined;
      continue;
    }
    const parsed = spec.parse(raw);
    if (!parsed.ok) {
      throw new ConfigError(label, `${parsed.message} (value: ${describeValue(name, raw)})`, {
        hint: `see "Configuration" in the README`,
      });
    }
    values[name] = parsed.value;
  }

  const home = path.resolve(cwd, values.home as string);
  const config: Config = {
    databaseUrl: values.databaseUrl as string | undefined,
    replicaUrls: Object.freeze((values.replicaUrls as string[] | undefined) ?? []),
    maxReplicaLagMs: values.maxReplicaLagMs as number,
    redisUrl: values.redisUrl as string | undefined,
    mongoUrl: values.mongoUrl as string | undefined,
    mongoDatabase: values.mongoDatabase as string,
    home,
    connectTimeoutMs: values.connectTimeoutMs as number,
    statementTimeoutMs: values.statementTimeoutMs as number,
    lockTimeoutMs: values.lockTimeoutMs as number,
    redisCommandTimeoutMs: values.redisCommandTimeoutMs as number,
    poolSize: values.poolSize as number,
    livenessTimeoutMs: values.livenessTimeoutMs as number,
    migrationsDir: values.migrationsDir === undefined ? undefined : path.resolve(cwd, values.migrationsDir as string),
    seedsDir: values.seedsDir === undefined ? undefined : path.resolve(cwd, values.seedsDir as string),
    sources: Object.freeze(sources),
    secrets: Object.freeze(
      secretsInUrls([
        values.databaseUrl as string,
        ...((values.replicaUrls as string[] | undefined) ?? []),
        values.redisUrl as string,
        values.mongoUrl as string,
      ]),
    ),
  };
  return Object.freeze(config);
}

/** The configuration as it may be shown: URLs redacted, secrets left out. */
export function describeConfig(
  config: Config,
): Record<string, { value: string | number | string[] | null; source: SettingSource }> {
  const out: Record<string, { value: string | number | string[] | null; source: SettingSource }> = {};
  for (const name of Object.keys(settings) as SettingName[]) {
    const value = config[name];
    out[name] = {
      value:
        value === undefined
          ? null
          : Array.isArray(value)
            ? value.map((v: string) => redactUrl(v))
            : typeof value === 'string' && name.endsWith('Url')
              ? redactUrl(value)
              : (value as string | number),
      source: config.sources[name],
    };
  }
  return out;
}
