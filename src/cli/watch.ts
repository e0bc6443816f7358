import type { Redis } from 'ioredis';
import type { TrackView } from '../render/track.render.js';
import type { Style } from '../render/style.js';
import type { CommandContext } from './program.js';

interface WatchOptions {
  context: CommandContext;
  numbers: string[];
  /** The command's Redis connection; absent when no Redis is configured. */
  redis: Redis | undefined;
  channel: string;
  refresh: (trackingNumber: string) => Promise<TrackView | undefined>;
  render: (view: TrackView, style: Style) => string;
}

/**
 * `track --watch`: new events arrive on a Redis channel; each one re-reads the package from
 * PostgreSQL, so a missed message loses nothing (every reconnect re-reads too). Without Redis
 * it polls the database every two seconds. Ends on Ctrl-C.
 */
export async function watchPackages(options: WatchOptions): Promise<void> {
  const { context, numbers } = options;
  const watched = new Set(numbers);
  const lastSeen = new Map<string, number>();
  const show = async (n: string): Promise<void> => {
    const view = await options.refresh(n);
    if (view === undefined) return;
    const last = view.timeline.at(-1)?.eventId ?? 0;
    if (lastSeen.get(n) === last) return;
    const first = !lastSeen.has(n);
    lastSeen.set(n, last);
    if (first) return; // already printed by track itself
    context.output.update(view, (style) => `${style.dim(`— ${new Date().toISOString()} —`)}\n${options.render(view, style)}`);
  };
  for (const n of numbers) await show(n);

  let subscriber: Redis | undefined;
  let poll: NodeJS.Timeout | undefined;
  const refreshAll = (): void => {
    for (const n of numbers)
      show(n).catch((error: unknown) => context.output.warn(`refresh failed: ${(error as Error).message}`));
  };
  if (options.redis !== undefined) {
    subscriber = options.redis.duplicate({
      lazyConnect: true,
      enableOfflineQueue: true,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => Math.min(times * 200, 2000),
    });
    subscriber.on('error', () => undefined);
    subscriber.on('ready', refreshAll);
    subscriber.on('message', (_channel: string, message: string) => {
      try {
        const event = JSON.parse(message) as { trackingNumber?: string };
        if (event.trackingNumber !== undefined && watched.has(event.trackingNumber)) refreshAll();
      } catch {
        // not ours
      }
    });
    await subscriber.connect();
    await subscriber.subscribe(options.channel);
  } else {
    context.output.info('watching by polling PostgreSQL every 2 s (no Redis configured)');
    poll = setInterval(refreshAll, 2000);
  }
  context.output.info(`watching ${numbers.join(', ')} — Ctrl-C to stop`);
  try {
    await new Promise<void>((resolve) => {
      if (context.signal.aborted) resolve();
      context.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    if (poll !== undefined) clearInterval(poll);
    if (subscriber !== undefined) subscriber.disconnect();
  }
}
