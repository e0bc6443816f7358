import fs = require('node:fs');
import nodeModule = require('node:module');
import os = require('node:os');
import path = require('node:path');
import url = require('node:url');
import vm = require('node:vm');

/**
 * How the CLI starts (bin/shiptrack.js): its bundle, dist/cli/shiptrack.cjs (scripts/bundle.mjs),
 * compiled from V8's code cache when there is one for this build of the bundle, this Node and this
 * command. Compiling the bundle's code is a fifth of a short command's time (`track`, `migrate
 * status`); read from the cache it is a fraction of that. A command's first runs write its cache on
 * the way out, each adding what it compiled (see `generations`); later runs only read it.
 *
 * The cache is per user, in `$SHIPTRACK_CODE_CACHE`, else `$XDG_CACHE_HOME/shiptrack`, else
 * `~/.cache/shiptrack`; `SHIPTRACK_CODE_CACHE=off` turns it off. A cache V8 refuses (another
 * Node, other V8 flags) is written again; one that cannot be read or written changes nothing but
 * the time taken. Caches not written for 30 days are removed when one is written.
 *
 * CommonJS, like the bundle: Node runs a CommonJS entry point without starting its ES module
 * loader.
 */

/** The names the bundle reaches the launcher's values by: scripts/bundle.mjs writes them in. */
const launchParameters = {
  /** The bundle's own file URL, for the compiled modules' `import.meta.url`. */
  url: '__shiptrackUrl',
  /** The launcher's `import()`, for the bundle's dynamic imports (see scripts/bundle.mjs). */
  importModule: '__shiptrackImport',
} as const;

/** The first line of the bundle: `// shiptrack-cli <hash of the rest>`. */
const bundleId = /^\/\/ shiptrack-cli ([0-9a-f]{32})\n/;

/**
 * The CLI's commands, each with a cache of its own (what a command compiles differs: `report`
 * and `track` share little). Anything else (`--help`, a typo) shares one.
 */
const commands = ['benchmark', 'check', 'doctor', 'migrate', 'outbox', 'report', 'scan', 'seed', 'track'] as const;

const unusedForMs = 30 * 86_400_000;

/**
 * How many runs of a command write its cache, each with what it read from the cache and what it
 * compiled itself. One run may take a path the next ones do not (`--help`, the embedded database):
 * a cache of what it alone compiled left `migrate status` on a server 20–50 ms slower. The cache
 * file's first byte counts them; V8's data follows.
 */
const generations = 3;

/**
 * Where the code cache lives, or undefined when it is turned off, or when V8 compiles for coverage
 * (NODE_V8_COVERAGE, as c8 and the tests set it) or a profiler: that code counts what it runs, and
 * a cache made from it would be read, slower, by every later run.
 */
function codeCacheDir(env: NodeJS.ProcessEnv, execArgv: readonly string[] = []): string | undefined {
  const setting = env.SHIPTRACK_CODE_CACHE?.trim() ?? '';
  if (/^(off|0|false|no)$/i.test(setting)) return undefined;
  const nodeFlags = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if ((env.NODE_V8_COVERAGE ?? '') !== '' || nodeFlags.some((flag) => /^--(inspect|cpu-prof|heap-prof|prof)/.test(flag))) {
    return undefined;
  }
  if (setting !== '') return path.resolve(setting);
  const xdg = env.XDG_CACHE_HOME ?? '';
  if (path.isAbsolute(xdg)) return path.join(xdg, 'shiptrack');
  let home = '';
  try {
    home = os.homedir();
  } catch {
    // No home folder (no HOME, no passwd entry): no cache.
  }
  return home === '' ? undefined : path.join(home, '.cache', 'shiptrack');
}

/** The cache file for this bundle, Node and command: `cli-<bundle>-<node>-<arch>-<command>.v8`. */
function codeCacheFile(dir: string, id: string, argv: readonly string[]): string {
  const command = argv.slice(2).find((arg) => (commands as readonly string[]).includes(arg)) ?? 'other';
  return path.join(dir, `cli-${id}-${process.version}-${process.arch}-${command}.v8`);
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the script's code cache as it is now (with what this run compiled), atomically. */
function writeCodeCache(script: vm.Script, dir: string, file: string, generation: number): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, Buffer.concat([Buffer.of(generation), script.createCachedData()]), { mode: 0o600 });
    fs.renameSync(temporary, file);
    const now = Date.now();
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith('cli-')) continue;
      const other = path.join(dir, name);
      if (now - fs.statSync(other).mtimeMs > unusedForMs) fs.rmSync(other, { force: true });
    }
  } catch {
    // Without a cache the next run compiles as this one did.
  }
}

/** Runs the CLI's bundle as a CommonJS module would run, with the launcher's values. */
function launch(): void {
  const bundle = path.join(__dirname, '..', '..', 'cli', 'shiptrack.cjs');
  const source = fs.readFileSync(bundle, 'utf8');
  const id = bundleId.exec(source)?.[1];
  const dir = id === undefined ? undefined : codeCacheDir(process.env, process.execArgv);
  const file = id === undefined || dir === undefined ? undefined : codeCacheFile(dir, id, process.argv);
  const kept = file === undefined ? undefined : readIfThere(file);
  const cachedData = kept !== undefined && kept.length > 1 ? kept.subarray(1) : undefined;
  // On the bundle's first line, so that its line numbers are the file's.
  const parameters = [
    'exports',
    'require',
    'module',
    '__filename',
    '__dirname',
    launchParameters.importModule,
    launchParameters.url,
  ];
  const script = new vm.Script(`(function (${parameters.join(', ')}) {${source}\n})`, { filename: bundle, cachedData });
  const generation = cachedData === undefined || script.cachedDataRejected === true ? 0 : (kept?.[0] ?? 0);
  if (dir !== undefined && file !== undefined && generation < generations) {
    process.once('exit', () => writeCodeCache(script, dir, file, generation + 1));
  }
  const run = script.runInThisContext() as (...values: unknown[]) => void;
  const module = { exports: {} };
  const importModule = (specifier: string): Promise<unknown> => import(specifier);
  const href = url.pathToFileURL(bundle).href;
  run(module.exports, nodeModule.createRequire(bundle), module, bundle, path.dirname(bundle), importModule, href);
}

export = { launch, launchParameters, commands };
