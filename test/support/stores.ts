import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { tempDir } from './temp.js';

export function serverConfig(url: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ env: { SHIPTRACK_DATABASE_URL: url, ...extra }, envFile: null });
}

export function embeddedConfig(home = tempDir('shiptrack-home-')): Config {
  return loadConfig({ env: { SHIPTRACK_HOME: home }, envFile: null });
}

export async function openServer(url: string, statementTimeoutMs = 0, poolMax = 4): Promise<Database> {
  return openDatabase(serverConfig(url), { statementTimeoutMs, poolMax });
}

/** Absolute import URL of a built module, for migration files written by tests. */
export function builtModuleUrl(relative: string): string {
  return pathToFileURL(path.resolve('dist', relative)).href;
}

/** A folder of plain-ESM migrations (`.mjs`) written by a test. */
export function migrationFolder(files: Record<string, string>): string {
  const dir = tempDir('shiptrack-migrations-');
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body);
  return dir;
}

export function sqlMigration(up: string[], down: string[], transactional = true): string {
  return `export const config = { transaction: ${transactional} };
export async function up(knex) { for (const sql of ${JSON.stringify(up)}) await knex.raw(sql); }
export async function down(knex) { for (const sql of ${JSON.stringify(down)}) await knex.raw(sql); }
`;
}

/** Names of the migrations shipped in migrations/, read from the folder. */
export function shippedMigrations(): string[] {
  return readdirSync(path.resolve('migrations'))
    .filter((f) => /^\d{14}_\w+\.ts$/.test(f))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}
