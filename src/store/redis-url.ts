import { splitUrl } from '../redact.js';
/**
 * A Redis URL names one server (`redis://[user:password@]host:port[/db]`) or, with several
 * `host:port` pairs separated by commas, the seed nodes of a Redis Cluster
 * (`redis://[user:password@]node1:7000,node2:7001,node3:7002`): every node shares the credentials,
 * and a cluster has database 0 only.
 */
export interface RedisEndpoints {
  readonly nodes: readonly { host: string; port: number }[];
  readonly cluster: boolean;
  readonly tls: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
}

/** The endpoints of a Redis URL, or a message saying what is wrong with it (never quoting the URL: it may hold a password). */
export function parseRedisEndpoints(url: string): RedisEndpoints | { error: string } {
  const parts = splitUrl(url.trim());
  const expected =
    'not a valid URL (expected redis://[user:password@]host:port[/db], or several host:port pairs separated by commas for a Redis Cluster)';
  if (parts === undefined || !/^rediss?:\/\/$/.test(parts.scheme)) return { error: expected };
  const { user, password, hosts, tail } = parts;
  const db = /^\/(\d*)(?:[?#].*)?$/.exec(tail)?.[1] ?? (tail === '' || /^[?#]/.test(tail) ? '' : undefined);
  if (db === undefined) return { error: `${expected}: the path must be a database number` };
  const nodes: { host: string; port: number }[] = [];
  for (const [i, pair] of hosts.split(',').entries()) {
    const hostPort = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/i.exec(pair.trim());
    if (hostPort === null) return { error: `${expected}: node ${i + 1} is not a host:port pair` };
    const port = hostPort[2] === undefined ? 6379 : Number(hostPort[2]);
    if (port < 1 || port > 65_535) return { error: `node ${i + 1}: port ${port} is out of range` };
    nodes.push({ host: (hostPort[1] ?? '').replace(/^\[|\]$/g, ''), port });
  }
  const cluster = nodes.length > 1;
  const database = db === undefined || db === '' ? 0 : Number(db);
  if (cluster && database !== 0) return { error: `a Redis Cluster has database 0 only, got /${database}` };
  const decode = (text: string | undefined): string | undefined => {
    if (text === undefined || text === '') return undefined;
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  return { nodes, cluster, tls: parts.scheme === 'rediss://', username: decode(user), password: decode(password), db: database };
}
