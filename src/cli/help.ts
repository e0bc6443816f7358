import { displayWidth, wrapText } from '../render/text.js';

/**
 * Help text fitted to `width` columns, whatever its source wrote: prose (runs of lines that start
 * in the first column) is re-flowed as paragraphs; indented lines (options, examples, tables) are
 * kept as they are, except that an example too wide for the width gets its comment (what follows
 * a gap of two or more spaces) on the next line, further indented.
 */
export function fitHelp(text: string, width: number): string {
  const out: string[] = [];
  let prose: string[] = [];
  const flush = (): void => {
    if (prose.length > 0) out.push(...wrapText(prose.join(' '), width));
    prose = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() !== '' && !/^\s/.test(line)) {
      prose.push(line.trimEnd());
      continue;
    }
    flush();
    out.push(...fitIndented(line, width));
  }
  flush();
  return out.join('\n');
}

function fitIndented(line: string, width: number): string[] {
  if (displayWidth(line) <= width) return [line];
  const gap = /^(\s+\S.*?\S)\s{2,}(\S.*)$/.exec(line);
  if (gap === null) return [line];
  const [, head = '', comment = ''] = gap;
  const indent = ' '.repeat((/^\s*/.exec(line)?.[0].length ?? 0) + 4);
  return [head, ...wrapText(comment, Math.max(20, width - indent.length)).map((part) => `${indent}${part}`)];
}
