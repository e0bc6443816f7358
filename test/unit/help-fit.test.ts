import { describe, expect, it } from 'vitest';
import { fitHelp } from '../../src/cli/help.js';

describe('help fitted to the terminal', () => {
  const help = [
    'Usage: shiptrack demo [options]',
    '',
    'A first sentence of prose that runs on,',
    'and a second line of the same paragraph that is long enough to pass the edge of the terminal.',
    '',
    'Options:',
    '  --wide        every column in full, whatever the width',
    '',
    'Examples:',
    '  $ shiptrack benchmark track-db --rate 500/s --concurrency 4   closed and open loop side by side',
  ].join('\n');

  it('re-flows prose, keeps indented lines, and moves an example comment that would pass the edge', () => {
    const lines = fitHelp(help, 62).split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(62);
    expect(lines).toContain('  --wide        every column in full, whatever the width');
    expect(lines).toContain('  $ shiptrack benchmark track-db --rate 500/s --concurrency 4');
    expect(lines).toContain('      closed and open loop side by side');
    expect(lines.join(' ')).toContain('A first sentence of prose that runs on, and a second line of the same paragraph');
  });

  it('leaves text that already fits as it was', () => {
    expect(fitHelp(help, 200)).toBe(help.replace(',\nand', ', and'));
  });
});
