import type { Command } from 'commander';
import { parseCount } from '../domain/report-filters.js';

/**
 * `--jobs` of `check` and `report consistency`: how many connections prove packages at once,
 * sharing one snapshot.
 */
const maxJobs = 8;

/** One connection per job, and one to cancel them on Ctrl-C. */
export const proofPoolMax = maxJobs + 1;

export function withJobsOption(command: Command): Command {
  return command.option(
    '--jobs <n>',
    `database connections proving packages at once, on one snapshot (1–${maxJobs}; a server only)`,
    '2',
  );
}

export function parseJobs(value: string): number {
  return parseCount(value, '--jobs', 1, maxJobs);
}
