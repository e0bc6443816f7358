import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NotFoundError } from './errors.js';

/** The folder holding shiptrack's package.json, whether running from src/ or dist/src/. */
export function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'migrations'))) return dir;
    dir = path.dirname(dir);
  }
  throw new NotFoundError('cannot find the shiptrack package folder (package.json beside migrations/)');
}

/**
 * A compiled module of this package, for worker threads: beside the caller when running the
 * build, or from dist/ when the caller runs from source (the test runner).
 */
export function compiledModule(callerUrl: string, relativeToSrc: string): URL {
  const sibling = new URL(`./${path.basename(relativeToSrc)}`, callerUrl);
  if (sibling.pathname.endsWith('.js') && existsSync(fileURLToPath(sibling))) return sibling;
  // pathToFileURL: a folder name with '#', '%' or '?' must not become part of the URL's syntax.
  return pathToFileURL(path.join(findPackageRoot(), 'dist', 'src', relativeToSrc));
}

/** shiptrack's own version, from its package.json. */
export function readPackageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(findPackageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
