import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForPort } from '../support/cli.js';
import {
  ownRedisClusterUnavailable,
  startOwnRedisCluster,
  type ClusterNode,
  type OwnRedisCluster,
} from '../support/own-redis-cluster.js';

/**
 * The Redis Cluster fixture itself: three masters and three replicas of the test's own, used
 * through ioredis' Cluster client — hash tags, MULTI, keys on every master, sharded pub/sub, and
 * a master killed and its replica promoted. Never the shared server.
 */

/** The startup nodes named by the fixture's `redis://h:p,h:p,h:p` URL. */
function seeds(url: string): Array<{ host: string; port: number }> {
  return url
    .replace(/^redis:\/\//, '')
    .split(',')
    .map((pair) => {
      const [host = '', port = ''] = pair.split(':');
      return { host, port: Number(port) };
    });
}

const clients: Array<Cluster | Redis> = [];

function clusterClient(url: string, options: { shardedSubscribers?: boolean } = {}): Cluster {
  const client = new Cluster(seeds(url), {
    ...options,
    slotsRefreshTimeout: 2000,
    redisOptions: { connectTimeout: 2000, commandTimeout: 5000 },
  });
  // A killed node makes the client complain until its slots are refreshed; the assertions say what matters.
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** A plain connection to one node, not following MOVED: what that node itself says. */
function nodeClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, connectTimeout: 2000, commandTimeout: 5000, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

const unavailable = ownRedisClusterUnavailable();
// A skipped file's suite title is not printed by the default reporter: say it, as global-setup does for servers.
if (unavailable !== undefined) process.stderr.write(`\n  ⚠ own Redis Cluster: tests SKIPPED (${unavailable})\n`);

describe.skipIf(unavailable !== undefined)(
  `a Redis Cluster of the test's own, three masters with a replica each${unavailable === undefined ? '' : ` — SKIPPED: ${unavailable}`}`,
  () => {
    let cluster: OwnRedisCluster | undefined;
    let client: Cluster;
    let failover: { killed: ClusterNode; promoted: ClusterNode } | undefined;

    beforeAll(async () => {
      const started = performance.now();
      cluster = await startOwnRedisCluster();
      process.stderr.write(`  own Redis Cluster formed in ${Math.round(performance.now() - started)} ms\n`);
      client = clusterClient(cluster.url);
    }, 60_000);
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await cluster?.stop();
    });

    it('runs six nodes on loopback ports of their own, masters first, and names the three masters in its URL', async () => {
      const c = cluster!;
      const ports = c.nodes.map((node) => node.port);
      expect(new Set(ports).size).toBe(6);
      expect(ports).not.toContain(6379);
      expect(c.url).toBe(
        `redis://${ports
          .slice(0, 3)
          .map((p) => `127.0.0.1:${p}`)
          .join(',')}`,
      );
      const roles = await Promise.all(c.nodes.map(async (node) => (await nodeClient(node.port).role())[0]));
      expect(roles).toEqual(['master', 'master', 'master', 'slave', 'slave', 'slave']);
      // nodes[3 + i] replicates nodes[i].
      for (let i = 0; i < 3; i += 1) {
        const role = await nodeClient(c.nodes[3 + i]!.port).role();
        expect(role.slice(1, 4)).toEqual(['127.0.0.1', c.nodes[i]!.port, 'connected']);
      }
      expect(await client.cluster('INFO')).toMatch(/cluster_state:ok/);
    });

    it('puts {RB1}:a and {RB1}:b in one slot, so a MULTI with both runs', async () => {
      const [a, b] = await Promise.all([client.cluster('KEYSLOT', '{RB1}:a'), client.cluster('KEYSLOT', '{RB1}:b')]);
      expect(a).toBe(b);
      expect(await client.cluster('KEYSLOT', 'RB1')).toBe(a);
      expect(await client.multi().set('{RB1}:a', 'one').set('{RB1}:b', 'two').incr('{RB1}:n').exec()).toEqual([
        [null, 'OK'],
        [null, 'OK'],
        [null, 1],
      ]);
      expect(await client.mget('{RB1}:a', '{RB1}:b')).toEqual(['one', 'two']);
    });

    it('sets and gets keys in different slots, on every master, through the cluster client', async () => {
      const c = cluster!;
      const byMaster = new Map<number, string>();
      for (let i = 0; byMaster.size < 3 && i < 100; i += 1) {
        const key = `spread:${i}`;
        const port = (await c.masterFor(key)).port;
        if (!byMaster.has(port)) byMaster.set(port, key);
      }
      expect([...byMaster.keys()].sort()).toEqual(
        c.nodes
          .slice(0, 3)
          .map((n) => n.port)
          .sort(),
      );
      for (const [port, key] of byMaster) {
        expect(await client.set(key, `on ${port}`)).toBe('OK');
        expect(await client.get(key)).toBe(`on ${port}`);
        // Stored on that master itself.
        expect(await nodeClient(port).get(key)).toBe(`on ${port}`);
      }
      const [first, second] = [...byMaster.values()];
      await expect(client.mget(first!, second!)).rejects.toThrow(/CROSSSLOT/);
    });

    it('masterFor agrees with CLUSTER KEYSLOT and CLUSTER SLOTS; another master answers MOVED', async () => {
      const c = cluster!;
      const slots = (await client.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, string]]>;
      for (const key of ['{RB1}:a', 'alpha', 'beta', 'gamma', 'delta']) {
        const slot = await client.cluster('KEYSLOT', key);
        const range = slots.find(([from, to]) => from <= slot && slot <= to)!;
        const master = await c.masterFor(key);
        expect(master.port).toBe(range[2][1]);
        const other = c.nodes.slice(0, 3).find((n) => n !== master)!;
        await expect(nodeClient(other.port).get(key)).rejects.toThrow(new RegExp(`MOVED ${slot} 127\\.0\\.0\\.1:${master.port}`));
      }
    });

    it('delivers a sharded pub/sub message (SSUBSCRIBE, SPUBLISH) through the shard serving the channel', async () => {
      const c = cluster!;
      const channel = '{RB1}:events';
      const subscriber = clusterClient(c.url, { shardedSubscribers: true });
      const received = new Promise<[string, string]>((resolve) =>
        subscriber.on('smessage', (ch: string, message: string) => resolve([ch, message])),
      );
      expect(await subscriber.ssubscribe(channel)).toBe(1);
      // The subscription is on the master serving the channel's slot.
      const master = await c.masterFor(channel);
      expect(await nodeClient(master.port).call('PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
      expect(await client.spublish(channel, 'shipped')).toBe(1);
      expect(await received).toEqual([channel, 'shipped']);
      await subscriber.sunsubscribe(channel);
    });

    it('failMasterFor kills the master of a key, its replica takes over the slot, and the data and clients follow', async () => {
      const c = cluster!;
      const key = '{RB1}:a';
      const before = await c.masterFor(key);
      // Written on the master and acknowledged by its replica, so it must survive the failover.
      const direct = nodeClient(before.port);
      await direct.set(key, 'replicated');
      expect(await direct.wait(1, 2000)).toBe(1);
      direct.disconnect();

      const started = performance.now();
      failover = await c.failMasterFor(key);
      const { killed, promoted } = failover;
      const ms = Math.round(performance.now() - started);
      process.stderr.write(`  own Redis Cluster failover of port ${killed.port} to port ${promoted.port} in ${ms} ms\n`);
      expect(ms).toBeLessThan(20_000);

      expect(killed).toBe(before);
      expect(c.nodes.slice(3)).toContain(promoted);
      expect((await c.masterFor(key)).port).toBe(promoted.port);
      await expect(waitForPort(killed.port, 0)).rejects.toThrow(/nothing listens/);
      expect((await nodeClient(promoted.port).role())[0]).toBe('master');

      const fresh = clusterClient(c.url);
      expect(await fresh.get(key)).toBe('replicated');
      expect(await fresh.set(key, 'after failover')).toBe('OK');
      expect(await fresh.get(key)).toBe('after failover');
      expect(await nodeClient(promoted.port).get(key)).toBe('after failover');

      // The old client still knows the killed master for this slot: it gets there after refreshing.
      let oldSaw: string | null | undefined;
      const deadline = Date.now() + 10_000;
      while (oldSaw === undefined) {
        try {
          oldSaw = await client.get(key);
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(oldSaw).toBe('after failover');
      expect(await client.set(key, 'old client')).toBe('OK');
      expect(await fresh.get(key)).toBe('old client');
    });

    it('a killed master started again rejoins as a replica of the node that took over', async () => {
      const c = cluster!;
      const key = '{RB1}:a';
      const { killed, promoted } = failover!;
      await killed.start();
      let role: unknown[] = [];
      const deadline = Date.now() + 15_000;
      const probe = nodeClient(killed.port);
      while (!(role[0] === 'slave' && role[2] === promoted.port && role[3] === 'connected') && Date.now() < deadline) {
        role = (await probe.role().catch(() => [])) as unknown[];
        if (role[3] !== 'connected') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(role.slice(0, 4)).toEqual(['slave', '127.0.0.1', promoted.port, 'connected']);
      expect(await c.masterFor(key)).toBe(promoted);
      expect(await probe.get(key).catch((error: Error) => error.message)).toMatch(
        new RegExp(`MOVED .* 127\\.0\\.0\\.1:${promoted.port}`),
      );
    });

    it('stop() ends every node and is idempotent', async () => {
      const c = cluster!;
      for (const x of clients) x.disconnect();
      await c.stop();
      for (const node of c.nodes) {
        await expect(waitForPort(node.port, 0)).rejects.toThrow(/nothing listens/);
      }
      await c.stop(); // idempotent, as afterAll calls it again
    });
  },
);
