/**
 * What read replicas cost and buy, in one run, rounds alternating:
 *
 *   npm run bench:replicas -- --database-url postgres://…/db --replica-url postgres://…/db \
 *     --replica-url postgres://…/db --redis-url redis://127.0.0.1:6379/14 --lookups 5000 --rounds 5
 *
 * 1. The track database read (named prepared statement, one at a time) on the primary against
 *    the same on a replica: the replica's own overhead (same machine: no gain, by design).
 * 2. Throughput of that read with 4 readers: all on the primary, against the reads spread over
 *    the replicas in turn (the router's choice, each reader with a connection per node).
 * 3. A cache fill (a miss: Redis lookup, database read, store) on a replica: without the
 *    commit-position check (the version read alone, the replica read directly), against the
 *    router's check with the position already known to be replayed (the usual case), and against
 *    a check that asks the replica where it stands every time (a scan within the last second).
 *
 * The database must be seeded (`shiptrack seed`); the replicas must stream from it.
 */
import type pg from 'pg';
import { loadConfig, type Config } from '../src/config.js';
import { createTracker, type ReplicaRead, type Tracker } from '../src/services/track.service.js';
import { openPgClient } from '../src/store/pg-client.js';
import { closeRedis, deleteKeysWithPrefix, openRedis } from '../src/store/redis.js';
import { clientState, createReplicaRouter, type ReplicaRouter } from '../src/store/replicas.js';
import { createTrackCache, trackCacheKey, type TrackCache } from '../src/store/track-cache.js';
import { measure, median, medianAndSpread, sampleNumbers, type Stats } from './support.js';

interface Args {
  databaseUrl: string;
  replicaUrls: string[];
  redisUrl: string;
  lookups: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { databaseUrl: '', replicaUrls: [], redisUrl: 'redis://127.0.0.1:6379/14', lookups: 5000, rounds: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--database-url') args.databaseUrl = value;
    else if (flag === '--replica-url') args.replicaUrls.push(value);
    else if (flag === '--redis-url') args.redisUrl = value;
    else if (flag === '--lookups') args.lookups = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (args.databaseUrl === '' || args.replicaUrls.length === 0) throw new Error('--database-url and --replica-url are required');
  return args;
}

type Phase = Pick<Stats, 'p50' | 'p99' | 'rate'>;

/** A router over plain connections, as a short-lived process has it. */
function routerOf(config: Config, stateTtlMs: number): ReplicaRouter<pg.Client> {
  return createReplicaRouter<pg.Client>(
    config,
    { open: (node) => openPgClient(node.config, 'shiptrack bench'), state: clientState, close: (c) => c.end() },
    { stateTtlMs },
  );
}

const route =
  (router: ReplicaRouter<pg.Client>) =>
  async (need: Parameters<ReplicaRouter<pg.Client>['choose']>[0]): Promise<ReplicaRead | undefined> => {
    const choice = await router.choose(need);
    return choice === undefined
      ? undefined
      : {
          source: { kind: 'client', client: choice.connection },
          target: choice.node.target,
          failed: (e) => router.failed(choice.node, e),
        };
  };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfig({
    env: {
      SHIPTRACK_DATABASE_URL: args.databaseUrl,
      SHIPTRACK_REPLICA_URLS: args.replicaUrls.join(','),
      SHIPTRACK_REDIS_URL: args.redisUrl,
    },
    envFile: null,
  });
  const replicaConfig = loadConfig({ env: { SHIPTRACK_DATABASE_URL: args.replicaUrls[0] ?? '' }, envFile: null });
  const primary = await openPgClient(config, 'shiptrack bench');
  const replica = await openPgClient(replicaConfig, 'shiptrack bench');
  const redis = await openRedis(config);
  const prefix = `shiptrack:bench-replicas:${Date.now()}:`;
  const rows = new Map<string, Phase[]>();
  const record = (name: string, phase: Phase): void => void rows.set(name, [...(rows.get(name) ?? []), phase]);
  // Each of 4 readers has its own connections (a pg client runs one query at a time).
  const readers = 4;
  const primaries = await Promise.all(Array.from({ length: readers }, () => openPgClient(config, 'shiptrack bench')));
  const routers = Array.from({ length: readers }, () => routerOf(config, 1000));
  const routersFresh = routerOf(config, 0);
  const routerKnown = routerOf(config, 1000);
  try {
    const numbers = await sampleNumbers(primary, 20_000);
    const onPrimary = createTracker({ source: { kind: 'client', client: primary } });
    const onReplica = createTracker({ source: { kind: 'client', client: replica } });
    const spreadPrimary = primaries.map((client) => createTracker({ source: { kind: 'client', client } }));
    const spreadReplicas = routers.map((router) =>
      createTracker({ source: { kind: 'client', client: primary }, route: route(router) }),
    );
    // Fills: every lookup a miss (the value is dropped before each), the position recorded as
    // a scan would (the primary's current one, which the replicas have replayed).
    const [{ lsn }] = (await primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows as [
      { lsn: string },
    ];
    const cache = createTrackCache(redis, { ttlMs: 60_000, negativeTtlMs: 60_000, prefix });
    for (const n of numbers.slice(0, args.lookups)) await cache.invalidate(n, lsn);
    const missAlways = (tracker: Tracker) => async (n: string) => {
      await redis.unlink(trackCacheKey(prefix, n));
      await tracker.track(n);
    };
    // The cache as it was before positions: the miss reads the version key alone.
    const withoutPosition: TrackCache = {
      ...cache,
      async lookup(n) {
        await redis.get(trackCacheKey(prefix, n));
        return {
          hit: undefined,
          version: (await redis.get(`${trackCacheKey(prefix, n)}:version`)) ?? '0',
          need: { minLsn: null },
        };
      },
    };
    const fillDirect = createTracker({ source: { kind: 'client', client: replica }, cache: withoutPosition });
    const fillKnown = createTracker({ source: { kind: 'client', client: primary }, cache, route: route(routerKnown) });
    const fillAsk = createTracker({ source: { kind: 'client', client: primary }, cache, route: route(routersFresh) });
    const pick = (trackers: Tracker[]): ((n: string) => Promise<unknown>) => {
      let i = 0;
      return (n) => (trackers[(i += 1) % trackers.length] as Tracker).track(n, { useCache: false });
    };
    for (let round = 1; round <= args.rounds; round += 1) {
      const phases: [string, () => Promise<Phase>][] = [
        ['track read, primary, c=1', () => measure(args.lookups, numbers, (n) => onPrimary.track(n, { useCache: false }))],
        ['track read, replica, c=1', () => measure(args.lookups, numbers, (n) => onReplica.track(n, { useCache: false }))],
        ['track read, primary, c=4', () => measure(args.lookups * 2, numbers, pick(spreadPrimary), readers)],
        [
          `track read, ${args.replicaUrls.length} replica(s) in turn, c=4`,
          () => measure(args.lookups * 2, numbers, pick(spreadReplicas), readers),
        ],
        ['cache fill on a replica, no position check', () => measure(args.lookups, numbers, missAlways(fillDirect), 1)],
        ['cache fill, position known replayed', () => measure(args.lookups, numbers, missAlways(fillKnown), 1)],
        ['cache fill, replica asked each time', () => measure(args.lookups, numbers, missAlways(fillAsk), 1)],
      ];
      // Alternating: every other round runs the phases in reverse order.
      for (const [name, run] of round % 2 === 1 ? phases : [...phases].reverse()) record(name, await run());
      process.stderr.write(`round ${round} done\n`);
    }
  } finally {
    await deleteKeysWithPrefix(redis, prefix);
    await closeRedis(redis);
    await Promise.all([primary.end(), replica.end(), ...primaries.map((c) => c.end())]);
    await Promise.all([...routers, routersFresh, routerKnown].map((r) => r.close()));
  }
  const lines = [
    `replicas, ${args.lookups} lookups per phase × ${args.rounds} rounds (alternating order); ms, median of rounds (min–max); rate: lookups/s`,
  ];
  for (const [name, phases] of rows) {
    const cell = (key: keyof Phase, digits: number): string =>
      medianAndSpread(
        phases.map((p) => p[key]),
        (n) => n.toFixed(digits),
      );
    lines.push(`  ${name.padEnd(44)} p50 ${cell('p50', 3)}  p99 ${cell('p99', 3)}  rate ${cell('rate', 0)}`);
  }
  const ratio = (a: string, b: string, key: keyof Phase): string => {
    const as = rows.get(a) ?? [];
    const bs = rows.get(b) ?? [];
    return medianAndSpread(
      as.map((p, i) => p[key] / (bs[i]?.[key] ?? Number.NaN)),
      (n) => n.toFixed(2),
    );
  };
  const diff = (a: string, b: string): string =>
    (median((rows.get(a) ?? []).map((p) => p.p50)) - median((rows.get(b) ?? []).map((p) => p.p50))).toFixed(3);
  lines.push(`  replica / primary, c=1 p50: ${ratio('track read, replica, c=1', 'track read, primary, c=1', 'p50')}`);
  lines.push(
    `  replicas / primary, c=4 throughput: ${ratio(`track read, ${args.replicaUrls.length} replica(s) in turn, c=4`, 'track read, primary, c=4', 'rate')}`,
  );
  lines.push(
    `  position check added to a fill, p50 ms: ${diff('cache fill, position known replayed', 'cache fill on a replica, no position check')} (known), ${diff('cache fill, replica asked each time', 'cache fill on a replica, no position check')} (asked each time)`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
