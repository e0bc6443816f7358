import { describe, expect, it } from 'vitest';
import { renderMigrationRun } from '../../src/render/migrations.render.js';
import { plainStyle } from '../../src/render/style.js';

describe('renderMigrationRun', () => {
  it('names every batch a rollback reverted', () => {
    const migrations = [
      { name: '20990101000002_b', durationMs: 3, transactional: true },
      { name: '20990101000001_a', durationMs: 2, transactional: true },
    ];
    const text = renderMigrationRun({ direction: 'down', batch: 2, batches: [1, 2], migrations }, plainStyle);
    expect(text).toContain('reverted 2 migration(s) (batches 1, 2)');
    const one = renderMigrationRun({ direction: 'down', batch: 2, batches: [2], migrations: migrations.slice(0, 1) }, plainStyle);
    expect(one).toContain('reverted 1 migration(s) (batch 2)');
  });
});
