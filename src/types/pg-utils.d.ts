/** pg's own value encoding (what it sends for a parameter), which its typings do not declare. */
declare module 'pg/lib/utils.js' {
  export function prepareValue(value: unknown): string | Buffer | null;
}
