/**
 * One error family for the whole library. Every error a user can cause or meet carries a stable
 * snake_case `code`, a human message, an optional hint and JSON-safe details; the CLI maps
 * `exitCode` to the process exit status (see README, "Exit codes").
 */

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unavailable: 5,
  /** The role may not do this: a privilege PostgreSQL refused (42501), a Redis ACL, a MongoDB role. */
  notPermitted: 6,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ShiptrackErrorOptions {
  hint?: string | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

export class ShiptrackError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, exitCode: ExitCode, message: string, options: ShiptrackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** Bad flags, arguments or settings: the user can fix it by typing something else. */
export class UsageError extends ShiptrackError {
  constructor(message: string, options?: ShiptrackErrorOptions) {
    super('usage', ExitCode.usage, message, options);
  }
}

export class ConfigError extends ShiptrackError {
  constructor(setting: string, message: string, options?: ShiptrackErrorOptions) {
    super('invalid_config', ExitCode.usage, `${setting}: ${message}`, {
      ...options,
      details: { setting, ...options?.details },
    });
  }
}

export class NotFoundError extends ShiptrackError {
  constructor(message: string, options?: ShiptrackErrorOptions) {
    super('not_found', ExitCode.notFound, message, options);
  }
}

/** The request collides with the state of the data or with another process (locks, checksums). */
export class ConflictError extends ShiptrackError {
  constructor(code: string, message: string, options?: ShiptrackErrorOptions) {
    super(code, ExitCode.conflict, message, options);
  }
}

/** A store we need cannot be reached, or answered too slowly. */
export class UnavailableError extends ShiptrackError {
  constructor(store: string, message: string, options?: ShiptrackErrorOptions) {
    super('store_unavailable', ExitCode.unavailable, message, {
      ...options,
      details: { store, ...options?.details },
    });
  }
}

export class InterruptedError extends ShiptrackError {
  constructor(message = 'interrupted', options?: ShiptrackErrorOptions) {
    super('interrupted', ExitCode.interrupted, message, options);
  }
}

/** A table the command needs is not there: the database was never migrated (far enough). */
export class SchemaMissingError extends ShiptrackError {
  constructor(message: string, options?: ShiptrackErrorOptions) {
    super('schema_missing', ExitCode.usage, message, { hint: 'run `shiptrack migrate latest` first', ...options });
  }
}

/** A failure inside a migration file: names the file and the SQL error. */
export class MigrationError extends ShiptrackError {
  constructor(message: string, options?: ShiptrackErrorOptions) {
    super('migration_failed', ExitCode.internal, message, options);
  }
}

export function isShiptrackError(error: unknown): error is ShiptrackError {
  return error instanceof ShiptrackError;
}

interface PgLikeError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  constraint?: unknown;
  table?: unknown;
}

const connectionErrorCodes: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EPIPE: 'connection closed',
};

/**
 * Maps a PostgreSQL driver error to the error family, once, by SQLSTATE (pattern from slonik's
 * `wrapError`). Unknown errors pass through unchanged so the CLI reports them as internal.
 */
export function mapPostgresError(error: unknown, context: { store?: string } = {}): unknown {
  if (error instanceof ShiptrackError || typeof error !== 'object' || error === null) return error;
  const e = error as PgLikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : 'unknown database error';
  const store = context.store ?? 'PostgreSQL';
  const details: Record<string, unknown> = { sqlstate: code };
  if (typeof e.constraint === 'string') details.constraint = e.constraint;
  if (typeof e.table === 'string') details.table = e.table;
  switch (code) {
    case '23505':
      return new ConflictError('unique_violation', message, { cause: error, details });
    case '23503':
      return new ConflictError('foreign_key_violation', message, { cause: error, details });
    case '23514':
    case '23502':
    case '22P02':
    case '22023':
      return new ShiptrackError('constraint_violation', ExitCode.usage, message, { cause: error, details });
    case '42501':
      return new ShiptrackError('permission_denied', ExitCode.notPermitted, `${store}: ${message}`, {
        cause: error,
        details,
        hint: 'the role shiptrack connects as lacks this privilege: grant it, or connect as the owner (read-only roles can run reports, track and doctor)',
      });
    case '40P01':
      return new ConflictError('deadlock', `${store}: ${message}`, {
        cause: error,
        details,
        hint: 'another session wanted the same rows or tables in the opposite order; retry',
      });
    case '55P03':
      return new ConflictError('lock_timeout', `${store}: could not get a lock in time (${message})`, {
        cause: error,
        details,
        hint: 'another session holds a conflicting lock; retry, or raise --lock-timeout',
      });
    case '57014':
      return new ShiptrackError('statement_timeout', ExitCode.unavailable, `${store}: statement cancelled (${message})`, {
        cause: error,
        details,
        hint: 'the statement ran past the statement timeout (SHIPTRACK_STATEMENT_TIMEOUT)',
      });
    case '57P01':
    case '57P02':
    case '57P03':
    case '08000':
    case '08001':
    case '08003':
    case '08004':
    case '08006':
      return new UnavailableError(store, `${store} is unavailable: ${message}`, { cause: error, details });
    case '42P01': {
      // knex prefixes the statement to the driver's words; the relation's name is what helps.
      const relation = /relation "([^"]+)" does not exist/.exec(message)?.[1];
      return new SchemaMissingError(
        relation === undefined ? `${store}: ${message}` : `${store}: table ${relation} does not exist`,
        {
          cause: error,
          details,
        },
      );
    }
    case '3D000':
      return new UnavailableError(store, `${store}: ${message}`, {
        cause: error,
        details,
        hint: 'create the database first, or point SHIPTRACK_DATABASE_URL at an existing one',
      });
    case '28000':
    case '28P01':
      return new UnavailableError(store, `${store}: authentication failed`, { cause: error, details });
    default:
      break;
  }
  const reason = code === undefined ? undefined : connectionErrorCodes[code];
  if (code !== undefined && reason !== undefined) {
    return new UnavailableError(store, `${store} is unreachable (${reason})`, { cause: error, details: { errno: code } });
  }
  // pg's words for a session already lost (the server ended it, the socket closed); the cause,
  // when the session was idle, came earlier as the client's 'error' event.
  if (/Connection terminated unexpectedly|is not queryable/i.test(message)) {
    return new UnavailableError(store, `${store} is unavailable: the connection was lost (${message})`, { cause: error });
  }
  if (
    /timeout expired|timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout/i.test(
      message,
    )
  ) {
    return new UnavailableError(store, `${store} did not answer in time (${message})`, { cause: error });
  }
  if (/Knex: Timeout acquiring a connection/i.test(message)) {
    return new UnavailableError(store, `${store} did not accept a connection in time`, { cause: error });
  }
  return error;
}
