import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../src/config.js';
import { parseRedisEndpoints } from '../../src/store/redis-url.js';
import { durationOption, parseDuration } from '../../src/options.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../support/temp.js';

function dirWithDotEnv(content: string): string {
  const dir = tempDir('shiptrack-config-');
  writeFileSync(path.join(dir, '.env'), content);
  return dir;
}

describe('loadConfig precedence: flags > environment > .env > defaults', () => {
  it('uses the defaults when nothing is set: embedded database, no cache, documents in PostgreSQL', () => {
    const cwd = tempDir('shiptrack-config-');
    const config = loadConfig({ env: {}, cwd });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.mongoUrl).toBeUndefined();
    expect(config.home).toBe(path.join(cwd, '.shiptrack'));
    expect(config.connectTimeoutMs).toBe(3000);
    expect(config.sources.databaseUrl).toBe('default');
  });

  it('.env beats defaults, environment beats .env, flags beat environment', () => {
    const cwd = dirWithDotEnv(
      'SHIPTRACK_DATABASE_URL=postgres://dotenv@h/db\nSHIPTRACK_REDIS_URL=redis://dotenv:6379\nSHIPTRACK_HOME=from-dotenv\n',
    );
    const fromDotEnv = loadConfig({ env: {}, cwd });
    expect(fromDotEnv.databaseUrl).toBe('postgres://dotenv@h/db');
    expect(fromDotEnv.sources.databaseUrl).toBe('.env');
    expect(fromDotEnv.home).toBe(path.join(cwd, 'from-dotenv'));

    const fromEnv = loadConfig({ env: { SHIPTRACK_DATABASE_URL: 'postgres://env@h/db' }, cwd });
    expect(fromEnv.databaseUrl).toBe('postgres://env@h/db');
    expect(fromEnv.sources.databaseUrl).toBe('environment');
    expect(fromEnv.redisUrl).toBe('redis://dotenv:6379');

    const fromFlag = loadConfig({
      env: { SHIPTRACK_DATABASE_URL: 'postgres://env@h/db' },
      cwd,
      flags: { databaseUrl: 'postgres://flag@h/db' },
    });
    expect(fromFlag.databaseUrl).toBe('postgres://flag@h/db');
    expect(fromFlag.sources.databaseUrl).toBe('flag');
  });

  it('falls back to DATABASE_URL, REDIS_URL and MONGO_URL, but the SHIPTRACK_ names win', () => {
    const env = { DATABASE_URL: 'postgres://plain@h/db', REDIS_URL: 'redis://plain', MONGO_URL: 'mongodb://plain' };
    const plain = loadConfig({ env, envFile: null });
    expect(plain.databaseUrl).toBe('postgres://plain@h/db');
    expect(plain.redisUrl).toBe('redis://plain');
    expect(plain.mongoUrl).toBe('mongodb://plain');
    const prefixed = loadConfig({ env: { ...env, SHIPTRACK_DATABASE_URL: 'postgres://prefixed@h/db' }, envFile: null });
    expect(prefixed.databaseUrl).toBe('postgres://prefixed@h/db');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ env: { SHIPTRACK_DATABASE_URL: '' }, envFile: null }).databaseUrl).toBeUndefined();
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ env: {}, envFile: null });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { home: string }).home = 'x';
    }).toThrow(TypeError);
  });
});

describe('loadConfig validation', () => {
  it('names the setting and where it came from', () => {
    expect(() => loadConfig({ env: { SHIPTRACK_DATABASE_URL: 'mysql://u@h/db' }, envFile: null })).toThrow(
      /SHIPTRACK_DATABASE_URL: expected a postgres:\/\/ URL, got a mysql:\/\/ URL/,
    );
    expect(() => loadConfig({ env: { SHIPTRACK_CONNECT_TIMEOUT: 'soon' }, envFile: null })).toThrow(
      /SHIPTRACK_CONNECT_TIMEOUT: "soon" is not a duration/,
    );
    expect(() => loadConfig({ env: {}, flags: { redisUrl: 'not a url' }, envFile: null })).toThrow(
      /--redis-url: not a valid URL/,
    );
    const cwd = dirWithDotEnv('SHIPTRACK_MONGO_URL=http://x\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/SHIPTRACK_MONGO_URL \(in \.env\)/);
  });

  it('is a ConfigError with exit code 2', () => {
    try {
      loadConfig({ env: { SHIPTRACK_REDIS_TIMEOUT: '5' }, envFile: null });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as ConfigError).message).toMatch(/SHIPTRACK_REDIS_TIMEOUT: must be from 10ms to 1m, got 5ms/);
    }
  });

  it('never repeats a password in its message', () => {
    try {
      loadConfig({ env: { SHIPTRACK_DATABASE_URL: 'mysql://admin:s3cr3t-pw@h/db' }, envFile: null });
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('s3cr3t-pw');
      expect(String((error as Error).message)).toContain('admin:***@');
    }
  });
});

describe('describeConfig and secrets', () => {
  it('redacts URLs and collects the passwords for the output scrubber', () => {
    const config = loadConfig({
      env: {
        SHIPTRACK_DATABASE_URL: 'postgres://app:pg%40pass@db:5432/shiptrack',
        SHIPTRACK_REDIS_URL: 'redis://:redispass@cache:6379',
        SHIPTRACK_MONGO_URL: 'mongodb://root:mongopass@docs:27017/?authSource=admin',
      },
      envFile: null,
    });
    const shown = JSON.stringify(describeConfig(config));
    for (const secret of ['pg%40pass', 'pg@pass', 'redispass', 'mongopass']) expect(shown).not.toContain(secret);
    expect(shown).toContain('postgres://app:***@db:5432/shiptrack');
    expect(config.secrets).toEqual(expect.arrayContaining(['pg%40pass', 'pg@pass', 'redispass', 'mongopass']));
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['30d', 2_592_000_000],
    ['2w', 1_209_600_000],
    ['750', 750],
    [' 3 s ', 3000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '-5s', '5 days', '1e3'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('one duration grammar for flags, settings and the library', () => {
  it('reads a bare number as milliseconds everywhere, and says so when that is too short', () => {
    expect(durationOption('750', '--warmup', { min: 0, max: 60_000 })).toBe(750);
    expect(durationOption(750, 'warmupMs', { min: 0, max: 60_000 })).toBe(750);
    expect(() => durationOption('5', '--duration', { min: 100, max: 3_600_000 })).toThrow(
      '--duration: expected 100ms to 1h, got 5ms (a bare number is milliseconds: did you mean 5s?)',
    );
    expect(loadConfig({ env: { SHIPTRACK_LOCK_TIMEOUT: '750' }, envFile: null }).lockTimeoutMs).toBe(750);
  });
});

describe('replicas and a Redis Cluster in the configuration', () => {
  it('reads replica URLs (comma-separated, repeatable flag), checks each, and never shows their passwords', () => {
    const config = loadConfig({
      env: {
        SHIPTRACK_DATABASE_URL: 'postgres://app:primary-pw@db1:5432/shiptrack',
        SHIPTRACK_REPLICA_URLS: 'postgres://app:replica-pw@db2:5432/shiptrack, postgres://app:replica-pw@db3:5432/shiptrack',
        SHIPTRACK_MAX_REPLICA_LAG: '2s',
      },
      envFile: null,
    });
    expect(config.replicaUrls).toHaveLength(2);
    expect(config.maxReplicaLagMs).toBe(2000);
    expect(config.secrets).toContain('replica-pw');
    const shown = JSON.stringify(describeConfig(config));
    expect(shown).not.toContain('replica-pw');
    expect(shown).toContain('postgres://app:***@db3:5432/shiptrack');
    expect(() => loadConfig({ env: { SHIPTRACK_REPLICA_URLS: 'postgres://ok@h/db,http://nope' }, envFile: null })).toThrow(
      /SHIPTRACK_REPLICA_URLS: replica 2: expected postgres:\/\/ URLs/,
    );
  });

  it('several host:port pairs in the Redis URL are a cluster: its nodes, credentials, database 0 only', () => {
    expect(parseRedisEndpoints('redis://:s3cret@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      cluster: true,
      tls: false,
      username: undefined,
      password: 's3cret',
      db: 0,
    });
    expect(parseRedisEndpoints('redis://cache')).toMatchObject({ nodes: [{ host: 'cache', port: 6379 }], cluster: false });
    expect(parseRedisEndpoints('redis://a:1,b:2/3')).toEqual({ error: expect.stringMatching(/database 0 only/) as string });
    expect(parseRedisEndpoints('redis://a:1,b:99999')).toEqual({ error: expect.stringMatching(/out of range/) as string });
    const config = loadConfig({ env: { SHIPTRACK_REDIS_URL: 'redis://user:cluster-pw@n1:7000,n2:7001' }, envFile: null });
    expect(config.secrets).toContain('cluster-pw');
    expect(JSON.stringify(describeConfig(config))).not.toContain('cluster-pw');
  });
});

describe('a Redis Cluster URL with awkward credentials', () => {
  it('takes a password containing "@", scrubs it raw and decoded, and never quotes the URL in an error', () => {
    expect(parseRedisEndpoints('redis://:p@ssw0rd@cache:6379')).toMatchObject({
      password: 'p@ssw0rd',
      nodes: [{ host: 'cache' }],
    });
    const config = loadConfig({
      env: { SHIPTRACK_REDIS_URL: 'redis://app:pa%40ss-w0rd@n1:7000,n2:7001?token=tok-secret-1' },
      envFile: null,
    });
    expect(config.secrets).toEqual(expect.arrayContaining(['pa%40ss-w0rd', 'pa@ss-w0rd', 'tok-secret-1']));
    const shown = JSON.stringify(describeConfig(config));
    for (const secret of ['pa%40ss-w0rd', 'ss-w0rd', 'tok-secret-1']) expect(shown).not.toContain(secret);
    let message = '';
    try {
      loadConfig({ env: { SHIPTRACK_REDIS_URL: 'redis://:hunter2@zz@bad host:1,n2:2' }, envFile: null });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/SHIPTRACK_REDIS_URL: .*node 1 is not a host:port pair/);
    for (const fragment of ['hunter2', 'zz@']) expect(message).not.toContain(fragment);
  });
});
