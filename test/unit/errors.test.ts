import { describe, expect, it } from 'vitest';
import { ConflictError, ExitCode, ShiptrackError, mapPostgresError, type UnavailableError } from '../../src/errors.js';

function pgError(code: string, message = 'boom', extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

describe('mapPostgresError', () => {
  it.each([
    ['23505', 'unique_violation', ExitCode.conflict],
    ['23503', 'foreign_key_violation', ExitCode.conflict],
    ['23514', 'constraint_violation', ExitCode.usage],
    ['55P03', 'lock_timeout', ExitCode.conflict],
    ['57014', 'statement_timeout', ExitCode.unavailable],
    ['57P01', 'store_unavailable', ExitCode.unavailable],
    ['08006', 'store_unavailable', ExitCode.unavailable],
    ['3D000', 'store_unavailable', ExitCode.unavailable],
    ['28P01', 'store_unavailable', ExitCode.unavailable],
    ['ECONNREFUSED', 'store_unavailable', ExitCode.unavailable],
  ])('SQLSTATE/errno %s → %s (exit %d)', (code, expectedCode, exitCode) => {
    const mapped = mapPostgresError(pgError(code));
    expect(mapped).toBeInstanceOf(ShiptrackError);
    expect((mapped as ShiptrackError).code).toBe(expectedCode);
    expect((mapped as ShiptrackError).exitCode).toBe(exitCode);
  });

  it('keeps the constraint and table in JSON-safe details', () => {
    const mapped = mapPostgresError(
      pgError('23505', 'duplicate key', { constraint: 'packages_tracking_number_key', table: 'packages' }),
    );
    expect(mapped).toBeInstanceOf(ConflictError);
    expect((mapped as ConflictError).toJSON()).toEqual({
      code: 'unique_violation',
      message: 'duplicate key',
      details: { sqlstate: '23505', constraint: 'packages_tracking_number_key', table: 'packages' },
    });
  });

  it('does not leak the password of a failed login', () => {
    const mapped = mapPostgresError(pgError('28P01', 'password authentication failed for user "app"')) as UnavailableError;
    expect(mapped.message).toBe('PostgreSQL: authentication failed');
  });

  it('recognises driver connect timeouts', () => {
    const mapped = mapPostgresError(new Error('timeout exceeded when trying to connect'));
    expect((mapped as ShiptrackError).exitCode).toBe(ExitCode.unavailable);
  });

  it('treats a session the driver already lost as an unavailable store, not a bug', () => {
    for (const words of [
      'Client has encountered a connection error and is not queryable',
      'Connection terminated unexpectedly',
    ]) {
      const mapped = mapPostgresError(new Error(words)) as ShiptrackError;
      expect(mapped.code).toBe('store_unavailable');
      expect(mapped.exitCode).toBe(ExitCode.unavailable);
      expect(mapped.message).toBe(`PostgreSQL is unavailable: the connection was lost (${words})`);
    }
  });

  it('passes unknown errors and our own errors through unchanged', () => {
    const plain = new Error('something else');
    expect(mapPostgresError(plain)).toBe(plain);
    const ours = new ConflictError('x', 'y');
    expect(mapPostgresError(ours)).toBe(ours);
  });
});

describe('a missing table', () => {
  it('is schema_missing (exit 2) with the hint to migrate, wherever it surfaces', () => {
    const mapped = mapPostgresError(pgError('42P01', 'relation "packages" does not exist')) as ShiptrackError;
    expect(mapped.code).toBe('schema_missing');
    expect(mapped.exitCode).toBe(ExitCode.usage);
    expect(mapped.hint).toBe('run `shiptrack migrate latest` first');
  });
});
