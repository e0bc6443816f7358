// Part of `npm run build`: bundles the compiled CLI (dist/src/cli/main.js) into one CommonJS script,
// dist/cli/shiptrack.cjs, so a command reads one file instead of resolving hundreds in
// node_modules, and V8 can compile it from its code cache (src/cli/launch.cts runs it). Modules
// imported lazily stay lazy: each is a function in the script, run on first import. The library
// (dist/src) is not bundled: programs importing it resolve its dependencies as usual.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { calledRedisCommands } from './redis-commands.mjs';
import launcher from '../dist/src/cli/launch.cjs';

const { launchParameters } = launcher;

const packageRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// Packages a command loads from node_modules when it needs them: native or WebAssembly code
// (pg-native, PGlite), or heavy and needed by few commands only.
const external = ['pg-native', 'pg-copy-streams', '@electric-sql/pglite', 'mongodb', '@inquirer/prompts', 'hdr-histogram-js'];

// knex's dialects for other databases. knex loads a dialect by name only when its `client` option
// is a string; ours is always a class (store/database.ts, store/embedded.ts), so these never load.
// Left out, they take ~310 KB (a fifth of what `migrate status` compiles) out of the bundle.
const otherKnexDialects =
  /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mysql2|mariadb|oracle|oracledb|pgnative|redshift|sqlite3)$/;

const knexOtherDialectsLeftOut = {
  name: 'knex-other-dialects-left-out',
  setup(bundle) {
    bundle.onResolve({ filter: otherKnexDialects }, (args) =>
      /[\\/]knex[\\/]lib[\\/]dialects$/.test(args.resolveDir) ? { path: args.path, namespace: 'left-out' } : undefined,
    );
    bundle.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `throw new Error('knex dialect ${args.path.slice(2)} is not part of shiptrack');`,
      loader: 'js',
    }));
  },
};

// knex brings its own copy of `debug`. In the bundle it would be a second module, which
// cli/debug-output.ts could not reach to send `DEBUG=knex:*` output (bindings among it) through
// the scrubber: knex is given the copy the rest of the bundle shares.
const oneDebug = {
  name: 'one-debug',
  setup(bundle) {
    bundle.onResolve({ filter: /^debug$/ }, (args) =>
      /[\\/]node_modules[\\/]knex[\\/]/.test(args.importer)
        ? bundle.resolve('debug', { kind: args.kind, resolveDir: packageRoot })
        : undefined,
    );
  },
};

// ioredis's command methods: only those our code or ioredis's own call (scripts/redis-commands.mjs).
const commandList = 'const commands = commands_1.list.filter((command) => command !== "monitor");';
const redisCommandsCalled = {
  name: 'redis-commands-called',
  setup(bundle) {
    bundle.onLoad({ filter: /[\\/]node_modules[\\/]ioredis[\\/]built[\\/]utils[\\/]Commander\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes(commandList)) {
        throw new Error(`ioredis's ${args.path} no longer lists its commands as scripts/bundle.mjs expects: update it`);
      }
      const called = calledRedisCommands([path.join(packageRoot, 'dist/src'), path.join(path.dirname(args.path), '..')]);
      return {
        contents: source.replace(
          commandList,
          `const called = new Set(${JSON.stringify(called)});\n` +
            'const commands = commands_1.list.filter((command) => command !== "monitor" && called.has(command));',
        ),
        loader: 'js',
      };
    });
  },
};

rmSync(path.join(packageRoot, 'dist/cli'), { recursive: true, force: true });
const built = await build({
  absWorkingDir: packageRoot,
  entryPoints: ['dist/src/cli/main.js'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: 'dist/cli/shiptrack.cjs',
  write: false,
  logLevel: 'warning',
  external,
  plugins: [knexOtherDialectsLeftOut, oneDebug, redisCommandsCalled],
  // The launcher gives the script its own file URL (the compiled modules' import.meta.url).
  define: { 'import.meta.url': launchParameters.url },
});
const [output] = built.outputFiles;
if (output === undefined || built.outputFiles.length !== 1) throw new Error('esbuild wrote no single CLI script');
// A dynamic import() in a script V8 compiled from its code cache fails in Node 20 ("A dynamic
// import callback was not specified"): the packages left out of the bundle (ESM among them) and
// migration files are imported through the launcher's own import(), which it passes in.
const script = output.text.replace(/\bimport\(/g, `${launchParameters.importModule}(`);
// The first line names the script's content: the launcher keys its code cache by it (V8 checks
// only the length of the source a cache was made from).
const hash = createHash('sha256').update(script).digest('hex').slice(0, 32);
mkdirSync(path.dirname(output.path), { recursive: true });
writeFileSync(output.path, `// shiptrack-cli ${hash}\n${script}`);
