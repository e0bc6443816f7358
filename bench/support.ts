/** What the bench scripts share: a scratch database seeded through the CLI, and their statistics. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';

/** The median of the values (the upper one of the middle two for an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
}

/**
 * Drops and creates `name` on the server of `adminUrl`, runs `migrate latest` and then `seed`
 * with `seedArgs` through the built CLI, and returns the new database's URL.
 */
export async function seedScratchDatabase(adminUrl: string, name: string, seedArgs: readonly string[]): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const env = { ...process.env, SHIPTRACK_DATABASE_URL: url.toString() };
  const cli = path.resolve('bin/shiptrack.js');
  for (const command of [
    ['migrate', 'latest'],
    ['seed', ...seedArgs],
  ]) {
    const run = spawnSync(process.execPath, [cli, ...command], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) throw new Error(`${command.join(' ')} failed`);
  }
  return url.toString();
}
