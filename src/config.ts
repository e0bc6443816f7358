import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';
import { redactUrl, secretsInUrls } from './redact.js';

/** Where a setting's value came from, for `doctor` and for error messages. */
export type SettingSource = 'flag' | 'environment' | '.env' | 'default';

export interface Config {
  /** PostgreSQL server URL; undefined means the embedded PostgreSQL (PGlite) under `home`. */
  readonly databaseUrl: string | undefined;
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
  readonly sources: Readonly<Record<SettingName, SettingSource>>;
  /** Passwords found in the configured URLs, for the output scrubber. */
  readonly secrets: readonly string[];
}

export type SettingName =
  | 'databaseUrl'
  | 'redisUrl'
  | 'mongoUrl'
  | 'mongoDatabase'
  | 'home'
  | 'connectTimeoutMs'
  | 'statementTimeoutMs'
  | 'lockTimeoutMs'
  | 'redisCommandTimeoutMs';

interface SettingSpec {
  /** Environment variables, first one wins. */
  env: readonly string[];
  /** Global command-line flag, for the settings that have one. */
  flag?: string;
}

/** The settings table; the README's configuration table mirrors it. */
export const settings: Readonly<Record<SettingName, SettingSpec>> = {
  databaseUrl: { env: ['SHIPTRACK_DATABASE_URL', 'DATABASE_URL'], flag: '--database-url' },
  redisUrl: { env: ['SHIPTRACK_REDIS_URL', 'REDIS_URL'], flag: '--redis-url' },
  mongoUrl: { env: ['SHIPTRACK_MONGO_URL', 'MONGO_URL'], flag: '--mongo-url' },
  mongoDatabase: { env: ['SHIPTRACK_MONGO_DB'], flag: '--mongo-db' },
  home: { env: ['SHIPTRACK_HOME'], flag: '--home' },
  connectTimeoutMs: { env: ['SHIPTRACK_CONNECT_TIMEOUT'] },
  statementTimeoutMs: { env: ['SHIPTRACK_STATEMENT_TIMEOUT'] },
  lockTimeoutMs: { env: ['SHIPTRACK_LOCK_TIMEOUT'] },
  redisCommandTimeoutMs: { env: ['SHIPTRACK_REDIS_TIMEOUT'] },
};

const defaults: Record<SettingName, string | undefined> = {
  databaseUrl: undefined,
  redisUrl: undefined,
  mongoUrl: undefined,
  mongoDatabase: 'shiptrack',
  home: '.shiptrack',
  connectTimeoutMs: '3s',
  statementTimeoutMs: '30s',
  lockTimeoutMs: '5s',
  redisCommandTimeoutMs: '500ms',
};

/** Parses `250ms`, `5s`, `2m` or a bare number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match?.[1]) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? 'ms').toLowerCase();
  const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1;
  return Math.round(value * factor);
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

function durationParser(min: number, max: number) {
  return (value: string): Parsed => {
    const ms = parseDuration(value);
    if (ms === undefined) return { ok: false, message: `"${value}" is not a duration (use e.g. 500ms, 5s, 2m)` };
    if (ms < min || ms > max) return { ok: false, message: `must be between ${min} ms and ${max} ms, got ${ms} ms` };
    return { ok: true, value: ms };
  };
}

const parsers: Record<SettingName, (value: string) => Parsed> = {
  databaseUrl: urlParser(['postgres:', 'postgresql:'], 'a postgres:// URL'),
  redisUrl: urlParser(['redis:', 'rediss:'], 'a redis:// URL'),
  mongoUrl: urlParser(['mongodb:', 'mongodb+srv:'], 'a mongodb:// URL'),
  mongoDatabase: (value) =>
    /^[A-Za-z0-9_-]{1,63}$/.test(value)
      ? { ok: true, value }
      : { ok: false, message: 'letters, digits, _ and - only (at most 63)' },
  home: (value) => (value.trim() === '' ? { ok: false, message: 'must not be empty' } : { ok: true, value }),
  connectTimeoutMs: durationParser(100, 600_000),
  statementTimeoutMs: durationParser(0, 86_400_000),
  lockTimeoutMs: durationParser(0, 86_400_000),
  redisCommandTimeoutMs: durationParser(10, 60_000),
};

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
  return name.endsWith('Url') ? redactUrl(value) : value;
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
      label = spec.flag ?? name;
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
        raw = defaults[name];
      }
    }
    sources[name] = source;
    if (raw === undefined) {
      values[name] = undefined;
      continue;
    }
    const parsed = parsers[name](raw);
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
    redisUrl: values.redisUrl as string | undefined,
    mongoUrl: values.mongoUrl as string | undefined,
    mongoDatabase: values.mongoDatabase as string,
    home,
    connectTimeoutMs: values.connectTimeoutMs as number,
    statementTimeoutMs: values.statementTimeoutMs as number,
    lockTimeoutMs: values.lockTimeoutMs as number,
    redisCommandTimeoutMs: values.redisCommandTimeoutMs as number,
    sources: Object.freeze(sources),
    secrets: Object.freeze(secretsInUrls([values.databaseUrl as string, values.redisUrl as string, values.mongoUrl as string])),
  };
  return Object.freeze(config);
}

/** The configuration as it may be shown: URLs redacted, secrets left out. */
export function describeConfig(config: Config): Record<string, { value: string | number | null; source: SettingSource }> {
  const out: Record<string, { value: string | number | null; source: SettingSource }> = {};
  for (const name of Object.keys(settings) as SettingName[]) {
    const value = config[name];
    out[name] = {
      value: value === undefined ? null : typeof value === 'string' && name.endsWith('Url') ? redactUrl(value) : value,
      source: config.sources[name],
    };
  }
  return out;
}
