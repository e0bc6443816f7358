import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { TrackJson } from '../../src/render/track.render.js';

/** `track --json` checked against the schema kept in the repository (schemas/track.schema.json). */
const schema = JSON.parse(readFileSync(path.resolve('schemas/track.schema.json'), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile<TrackJson>(schema);

/** Parses stdout with one JSON.parse and checks it against the schema; throws naming what is wrong. */
export function parseTrackJson(stdout: string): TrackJson {
  const value: unknown = JSON.parse(stdout);
  if (!validate(value)) throw new Error(`track --json does not match its schema: ${ajv.errorsText(validate.errors)}`);
  return value;
}
