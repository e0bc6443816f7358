import type { Database } from './database.js';

/**
 * On abort, cancels whatever the backend `pid` is running (a slow query, a long load, a lock
 * wait) from another pooled connection; its transaction then rolls back. Returns `detach`, which
 * stops listening and waits for a cancel in flight: it must land before the connection goes back
 * to the pool, not on its next user. On the embedded database, which runs one statement at a
 * time, there is nothing to cancel from the side: a no-op.
 */
export function cancelBackendOnAbort(
  db: Database,
  pid: number | undefined,
  signal: AbortSignal | undefined,
): () => Promise<void> {
  if (signal === undefined || pid === undefined || db.mode !== 'server') return () => Promise.resolve();
  let pending: Promise<unknown> | undefined;
  const onAbort = (): void => {
    pending = db.knex.raw('select pg_cancel_backend(?)', [pid]).catch(() => undefined);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return async () => {
    signal.removeEventListener('abort', onAbort);
    await pending;
  };
}
