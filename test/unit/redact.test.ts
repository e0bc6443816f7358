import { describe, expect, it } from 'vitest';
import { createScrubber, redactUrl, secretsInUrls } from '../../src/redact.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://user:pw@host:5432/db', 'postgres://user:***@host:5432/db'],
    ['redis://:pw@host:6379/0', 'redis://:***@host:6379/0'],
    ['mongodb://u:p%40ss@h1:27017,h2:27017/db?authSource=admin', 'mongodb://u:***@h1:27017,h2:27017/db?authSource=admin'],
    ['postgres://user@host/db', 'postgres://user@host/db'],
    ['postgres://host/db?password=pw&sslmode=require', 'postgres://host/db?password=***&sslmode=require'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('secretsInUrls and createScrubber', () => {
  it('masks every known secret and any URL password in free text', () => {
    const secrets = secretsInUrls(['postgres://u:top%2Fsecret@h/db', undefined, 'redis://:hunter22@h']);
    expect(secrets).toEqual(expect.arrayContaining(['top%2Fsecret', 'top/secret', 'hunter22']));
    const scrub = createScrubber(secrets);
    const text = 'connect failed for u with password top/secret; AUTH hunter22; see mongodb://x:other@y';
    const out = scrub(text);
    expect(out).not.toMatch(/top\/secret|hunter22|other@/);
    expect(out).toContain('mongodb://x:***@y');
  });

  it('ignores secrets too short to mask safely in prose (they are still masked in URLs)', () => {
    expect(secretsInUrls(['postgres://u:ab@h/db'])).toEqual([]);
    expect(createScrubber([])('postgres://u:ab@h/db')).toBe('postgres://u:***@h/db');
  });
});
