import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../support/databases.js';
import { freePort, runCli, tempDir } from '../support/cli.js';
import { parseTrackJson } from '../support/track-json.js';
import type { TrackPackageJson } from '../../src/render/track.render.js';

interface SeedJson {
  sampleTrackingNumbers: string[];
}

describe('scan on the embedded default', () => {
  it('records a scan that track shows at once; the same scan again is one event; unknown places exit 3', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const seeded = await runCli(['seed', '--json', '--as-of', '2026-11-01'], { cwd });
    const numbers = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers;
    const track = async (n: string): Promise<TrackPackageJson> => {
      const found = parseTrackJson((await runCli(['track', n, '--json'], { cwd })).stdout).packages[0];
      if (found === undefined) throw new Error(`${n} not found`);
      return found;
    };

    const target = numbers[0] ?? '';
    const before = await track(target);
    const at = '2026-11-05T10:00:00Z';
    const args = ['scan', target, '--status', 'exception', '--location', before.destination.name, '--at', at];
    const first = await runCli(args, { cwd });
    const second = await runCli(args, { cwd });
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already recorded as event \d+: nothing changed/);
    const after = await track(target);
    expect(after.events).toHaveLength(before.events.length + 1);

    const unknownPlace = await runCli(['scan', target, '--status', 'in_transit', '--location', 'Atlantis', '--at', at], { cwd });
    expect(unknownPlace.code).toBe(3);
    expect(unknownPlace.stderr).toMatch(/no location is named or numbered "Atlantis"/);
    const badStatus = await runCli(['scan', target, '--status', 'lost', '--location', 'x'], { cwd });
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toMatch(/argument 'lost' is invalid/);
  });

  it('bulk: counts accepted, duplicate and rejected lines, and exits 4 when any line was rejected', async () => {
    const cwd = tempDir();
    expect((await runCli(['migrate', 'latest'], { cwd })).code).toBe(0);
    const seeded = await runCli(['seed', '--json', '--as-of', '2026-11-01'], { cwd });
    const [a, b] = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers;
    const line = (n: string | undefined, minute: number): string =>
      JSON.stringify({
        trackingNumber: n,
        status: 'exception',
        location: '1',
        at: `2026-11-02T10:${String(minute).padStart(2, '0')}:00Z`,
      });
    const file = path.join(cwd, 'scans.ndjson');
    writeFileSync(file, [line(a, 1), line(b, 2), line(a, 1), 'not json', line('RB123456784US', 3), ''].join('\n'));
    const result = await runCli(['scan', '--file', file, '--json'], { cwd });
    expect(result.code).toBe(4);
    const summary = JSON.parse(result.stdout) as {
      lines: number;
      duplicate: number;
      rejected: number;
      rejections: { line: number; reason: string }[];
    };
    expect(summary).toMatchObject({ lines: 5, duplicate: 1, rejected: 2 });
    expect(summary.rejections).toEqual([
      { line: 4, reason: 'not JSON' },
      { line: 5, reason: 'RB123456784US: check digit is 4, expected 5' },
    ]);
    const badParallel = await runCli(['scan', '--file', file, '--parallel', '0'], { cwd });
    expect(badParallel.code).toBe(2);
    expect(badParallel.stderr).toMatch(/--parallel: expected a whole number from 1 to 8, got "0"/);
  });
});

describe.skipIf(!inject('postgresAvailable'))('scan with MongoDB unreachable', () => {
  it('records the scan, keeps its raw scan in the outbox with a warning, and exits 0', async () => {
    const testDb = await createTestDatabase('st_scan_mongo');
    try {
      const port = await freePort();
      const env = {
        SHIPTRACK_DATABASE_URL: testDb.url,
        SHIPTRACK_MONGO_URL: `mongodb://root:s3cret-mongo@127.0.0.1:${port}/?serverSelectionTimeoutMS=500`,
        SHIPTRACK_CONNECT_TIMEOUT: '500ms',
      };
      expect((await runCli(['migrate', 'latest'], { env: { SHIPTRACK_DATABASE_URL: testDb.url } })).code).toBe(0);
      const seeded = await runCli(['seed', '--json', '--documents', '0'], { env: { SHIPTRACK_DATABASE_URL: testDb.url } });
      const number = (JSON.parse(seeded.stdout) as SeedJson).sampleTrackingNumbers[0] ?? '';
      const scan = await runCli(['scan', number, '--status', 'exception', '--location', '1', '--at', '2026-12-01T08:00:00Z'], {
        env,
      });
      expect(scan.code).toBe(0);
      expect(scan.stderr).toMatch(/warning: raw scans wait in the outbox/);
      expect(scan.stdout + scan.stderr).not.toContain('s3cret-mongo');
      const status = await runCli(['outbox', 'status', '--json'], { env });
      expect((JSON.parse(status.stdout) as { waiting: number }).waiting).toBe(1);
      const drain = await runCli(['outbox', 'drain'], { env });
      expect(drain.code).toBe(5);
      expect((JSON.parse((await runCli(['outbox', 'status', '--json'], { env })).stdout) as { waiting: number }).waiting).toBe(1);
    } finally {
      await testDb.drop();
    }
  });
});
