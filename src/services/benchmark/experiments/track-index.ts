import { createTracker } from '../../track.service.js';
import { trackQuery } from '../../../store/track-query.js';
import {
  finding,
  inRolledBackConnection,
  indexResult,
  measure,
  planText,
  requireIndexes,
  requireServer,
  sampleTrackingNumbers,
  type Definition,
} from './harness.js';

const index = 'tracking_events_package_time_idx';

/** The track read with and without its index, through createTracker on one connection per arm. */
export const trackIndex: Definition = {
  name: 'track-index',
  question: `What does ${index} buy the track read path?`,
  async run(run) {
    const { db } = run.deps;
    requireServer(db);
    const size = (await requireIndexes(db, [index])).get(index) ?? 0;
    const numbers = await sampleTrackingNumbers(db, 1000);
    run.checkAborted();
    const arm = (drop: boolean, range: [number, number]) =>
      inRolledBackConnection(run, async (client) => {
        if (drop) await client.query(`drop index ${index}`);
        const tracker = createTracker({ source: { kind: 'client', client } });
        const summary = await measure(
          run,
          (seq) => tracker.track(numbers[(seq * 7919) % numbers.length] ?? '', { useCache: false }),
          range,
        );
        const explained = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${trackQuery.text}`, [
          numbers[0],
        ]);
        run.checkAborted();
        return { label: `${drop ? 'without' : 'with'} ${index}`, summary, plan: planText(explained.rows) };
      });
    const without = await arm(true, [0, 0.5]);
    const withIndex = await arm(false, [0.5, 1]);
    return indexResult(
      'tracking_events',
      index,
      size,
      { without: without.value, with: withIndex.value, heldMs: without.heldMs },
      ['report stale', 'report overdue'],
      [finding('track_workload', { trackingNumbers: numbers.length })],
    );
  },
};
