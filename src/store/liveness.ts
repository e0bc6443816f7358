import type { Client } from 'pg';
import { UnavailableError } from '../errors.js';
import { formatNumber } from '../domain/units.js';

/**
 * Is the server still there? A frozen PostgreSQL keeps its sockets open and the kernel keeps
 * answering TCP keepalives for it, so only an answer from the server proves it alive. While a
 * pool is open, a connection of its own asks `select 1` every few seconds; when no answer (of any
 * kind: an error is an answer too) has come for `timeoutMs`, the server is declared gone and
 * `onDead` runs, which closes the work's sockets: whatever waits on them fails at once, named,
 * instead of waiting without bound (a seed, a check, a migration run without statement timeout).
 */

export interface Watchdog {
  stop(): Promise<void>;
}

export interface WatchdogOptions {
  /** Opens the probe's connection (not from the pool: the pool may be busy or full). */
  connect: () => Promise<Client>;
  timeoutMs: number;
  /** Names the server in the error, without credentials. */
  store: string;
  onDead: (error: UnavailableError) => void;
}

export function startWatchdog(options: WatchdogOptions): Watchdog {
  const intervalMs = Math.max(250, Math.floor(options.timeoutMs / 4));
  let lastAnswer = Date.now();
  let stopped = false;
  let probing = false;
  let client: Client | undefined;

  const answered = (): void => {
    lastAnswer = Date.now();
  };
  const declareDead = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    const seconds = formatNumber(options.timeoutMs / 1000);
    options.onDead(
      new UnavailableError(options.store, `${options.store} stopped answering: no reply to a liveness check for ${seconds} s`, {
        hint: 'the server is frozen, overloaded or cut off; the work in flight was abandoned and its transaction rolls back (SHIPTRACK_LIVENESS_TIMEOUT)',
      }),
    );
    client?.connection.stream.destroy();
  };
  const probe = async (): Promise<void> => {
    probing = true;
    try {
      client ??= await options.connect();
      await client.query('select 1');
      answered();
    } catch (error) {
      // Any reply from the server proves it alive (too many connections, a cancel); silence,
      // a reset or a closed socket does not: the next probe connects again.
      if (typeof (error as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((error as { code: string }).code)) {
        answered();
      }
      const broken = client;
      client = undefined;
      broken?.end().catch(() => undefined);
    } finally {
      probing = false;
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    if (Date.now() - lastAnswer > options.timeoutMs) declareDead();
    else if (!probing) void probe();
  }, intervalMs);
  timer.unref();

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      const open = client;
      client = undefined;
      if (open !== undefined) {
        // A frozen server never answers the goodbye: the socket is simply closed.
        open.connection.stream.destroy();
        await open.end().catch(() => undefined);
      }
    },
  };
}
