import stringWidth from 'string-width';
/**
 * Text for a terminal: widths in display columns (ANSI colour codes count for nothing,
 * box-drawing characters and `…` for one, CJK and emoji for two), cutting and word-wrapping.
 * Apart from the tables (render/table.ts) so that help and prose do not load their layout.
 */

/** How wide a table or prose may be; a `Style` will do. Without a width, or with `wide`, nothing is fitted. */
export interface TableFit {
  width?: number;
  wide?: boolean;
}

// eslint-disable-next-line no-control-regex
const ansiPattern = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
// eslint-disable-next-line no-control-regex
const tokenPattern = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[\s\S]/gu;
const widths = new Map<string, number>();

/**
 * A character's columns, as string-width counts them, for prose and tables alike.
 * Printable ASCII is one column without asking string-width (a call strips colour codes and scans
 * for emoji: measuring every character of a table that way took ~10 ms); others are asked once.
 */
function charWidth(char: string): number {
  const code = char.charCodeAt(0);
  if (char.length === 1 && code >= 0x20 && code < 0x7f) return 1;
  let width = widths.get(char);
  if (width === undefined) {
    width = stringWidth(char);
    widths.set(char, width);
  }
  return width;
}

const isAnsi = (token: string): boolean => token.length > 1 && token.startsWith('\u001b');

export function stripAnsi(text: string): string {
  return text.replace(ansiPattern, '');
}

const printableAscii = /^[\x20-\x7e]*$/;

/** The columns a line takes on a terminal (of a multi-line text: its widest line). */
export function displayWidth(text: string): number {
  // Most cells and lines: one column a character, found without visiting each.
  if (printableAscii.test(text)) return text.length;
  let widest = 0;
  for (const line of stripAnsi(text).split('\n')) {
    let width = 0;
    for (const char of line) width += charWidth(char);
    widest = Math.max(widest, width);
  }
  return widest;
}

/** Cuts one line to `width` columns, ending in `…`; colour codes are kept, so colours still close. */
export function cutText(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  const room = width - 1;
  let out = '';
  let used = 0;
  let cut = room < 0;
  for (const token of text.match(tokenPattern) ?? []) {
    if (isAnsi(token)) {
      out += token;
      continue;
    }
    if (cut) continue;
    const w = charWidth(token);
    if (used + w > room) {
      out = `${out.trimEnd()}…`;
      cut = true;
    } else {
      out += token;
      used += w;
    }
  }
  return out;
}

/** The longest head of a word that fits `width` columns (at least one character), and the rest. */
function headOf(word: string, width: number): [string, string] {
  let head = '';
  let used = 0;
  const tokens = word.match(tokenPattern) ?? [];
  for (const [i, token] of tokens.entries()) {
    const w = isAnsi(token) ? 0 : charWidth(token);
    if (used + w > width && used > 0) return [head, tokens.slice(i).join('')];
    head += token;
    used += w;
  }
  return [head, ''];
}

/**
 * Word-wraps text to `width` columns. Lines after the first of each paragraph start with
 * `indent` (counted in the width); a word longer than a line is split.
 */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const indentWidth = displayWidth(indent);
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    let used = 0;
    let first = true;
    const room = (): number => Math.max(1, width - (first ? 0 : indentWidth));
    const flush = (): void => {
      lines.push(first ? line : `${indent}${line}`);
      first = false;
      line = '';
      used = 0;
    };
    for (const word of paragraph.split(' ')) {
      const w = displayWidth(word);
      if (used > 0 && used + 1 + w <= room()) {
        line += ` ${word}`;
        used += 1 + w;
        continue;
      }
      if (used > 0) flush();
      let rest = word;
      while (displayWidth(rest) > room()) {
        [line, rest] = headOf(rest, room());
        flush();
      }
      line = rest;
      used = displayWidth(rest);
    }
    flush();
  }
  return lines;
}

/**
 * Prose for a terminal: word-wrapped at the width (later lines start with `indent`); whole with
 * `wide` or without a width.
 */
export function fitProse(text: string, fit: TableFit, indent = ''): string[] {
  return fit.width === undefined || fit.wide === true ? [text] : wrapText(text, fit.width, indent);
}
