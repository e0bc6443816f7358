import type { ServiceWarning } from '../services/warnings.js';
import { formatNumber } from '../domain/units.js';

/** A warning as the one line the CLI prints after `warning:`. */
export function describeWarning(warning: ServiceWarning): string {
  switch (warning.code) {
    case 'cache_unavailable':
      return `cache unavailable (${warning.reason}); answering from PostgreSQL`;
    case 'cache_not_refreshed':
      return (
        `Redis did not confirm the cache refresh (${warning.reason}); it was sent, and a Redis that is only slow ` +
        `applies it when it answers again; otherwise cached answers expire within ${Math.round(warning.ttlMs / 1000)} s`
      );
    case 'documents_waiting':
      return `raw scans wait in the outbox: MongoDB did not take them (${warning.reason}); ${formatNumber(warning.waiting)} waiting, \`shiptrack outbox drain\` delivers them`;
  }
}
