import 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { servicesRequired, testCitusUrl, testMongoUrl, testPostgresAdminUrl, testRedisUrl } from './env.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAvailable: boolean;
    redisAvailable: boolean;
    mongoAvailable: boolean;
    /** The PostgreSQL binaries tests start servers from have hypopg (index advice). */
    hypopgAvailable: boolean;
  }
}

function probe(rawUrl: string, defaultPort: number): Promise<boolean> {
  const url = new URL(rawUrl);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || defaultPort) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** hypopg's control file beside the server binaries' other extensions (`pg_config --sharedir`). */
function hypopgInstalled(): boolean {
  try {
    const share = execFileSync('pg_config', ['--sharedir'], { encoding: 'utf8' }).trim();
    return existsSync(path.join(share, 'extension', 'hypopg.control'));
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const [postgres, redis, mongo] = await Promise.all([
    probe(testPostgresAdminUrl, 5432),
    probe(testRedisUrl, 6379),
    testMongoUrl === undefined ? Promise.resolve(false) : probe(testMongoUrl, 27017),
  ]);
  const lines: string[] = [];
  if (!postgres) lines.push(`PostgreSQL NOT REACHABLE at ${new URL(testPostgresAdminUrl).host}: its tests are SKIPPED`);
  if (!redis) lines.push(`Redis NOT REACHABLE at ${new URL(testRedisUrl).host}: its tests are SKIPPED`);
  if (testMongoUrl === undefined) {
    lines.push(
      'MongoDB tests SKIPPED (the document-store contract suite, outbox delivery to MongoDB): SHIPTRACK_TEST_MONGO_URL is not set',
    );
  } else if (!mongo) {
    lines.push('MongoDB NOT REACHABLE at SHIPTRACK_TEST_MONGO_URL: its tests are SKIPPED');
  }
  if (testCitusUrl === undefined) {
    lines.push('Citus tests SKIPPED (doctor and migrations on a coordinator): SHIPTRACK_TEST_CITUS_URL is not set');
  }
  const hypopg = hypopgInstalled();
  if (!hypopg) {
    lines.push('index-advice tests SKIPPED (report db --advise): hypopg is not installed (Debian: postgresql-NN-hypopg)');
  }
  // Both server-backed projects run this setup; say it once.
  if (process.env.SHIPTRACK_TEST_BANNER_SHOWN !== '1') {
    for (const line of lines) process.stderr.write(`\n  ⚠ ${line}\n`);
    process.env.SHIPTRACK_TEST_BANNER_SHOWN = '1';
  }
  if (servicesRequired && (!postgres || !redis)) {
    throw new Error('PostgreSQL and Redis are required here (CI or SHIPTRACK_TEST_REQUIRE_SERVICES=1)');
  }
  project.provide('postgresAvailable', postgres);
  project.provide('redisAvailable', redis);
  project.provide('mongoAvailable', mongo);
  project.provide('hypopgAvailable', hypopg);
}
