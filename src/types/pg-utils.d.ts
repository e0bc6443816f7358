/**
 * pg's own value encoding (what it sends for a parameter), which its typings do not declare.
 * A CommonJS module: imported, its exports are the default export (in Node and in the bundle).
 */
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue: (value: unknown) => string | Buffer | null };
  export default utils;
}
