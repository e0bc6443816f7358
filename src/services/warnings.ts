/**
 * What a use case could not do although its main work succeeded (the scan is committed, the
 * answer came from PostgreSQL): returned as data beside the result, so a program calling the
 * library sees exactly what the CLI prints as a warning.
 */
export type ServiceWarning =
  /** The cache could not be read or written; answers came from PostgreSQL. */
  | { code: 'cache_unavailable'; store: 'Redis'; reason: string }
  /** A write committed but its cached answers could not be dropped: they expire within `ttlMs`. */
  | { code: 'cache_not_refreshed'; store: 'Redis'; reason: string; ttlMs: number }
  /** Documents committed to the outbox could not be delivered now; `waiting` stay for `outbox drain`. */
  | { code: 'documents_waiting'; store: 'MongoDB'; reason: string; waiting: number };

/** The message of an error, for a warning's reason (never the stack, never credentials: errors are scrubbed). */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
