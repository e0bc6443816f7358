import { describe, expect, it } from 'vitest';
import type { TrackedPackage } from '../../src/domain/timeline.js';
import { decodeCachedAnswer, encodeCachedAnswer } from '../../src/store/track-cache.js';

const denver = { name: 'Denver Hub 3', city: 'Denver', state: 'CO', timeZone: 'America/Denver' };
const reno = { name: 'Reno Sorting Center 51', city: 'Reno', state: 'NV', timeZone: 'America/Los_Angeles' };
const phoenix = { name: 'Phoenix Pickup Point 9', city: 'Phoenix', state: 'AZ', timeZone: 'America/Phoenix' };

const answer: TrackedPackage = {
  packageId: 582,
  trackingNumber: 'EE349576370US',
  currentStatus: 'exception',
  sender: 'Ashley Lee',
  recipient: 'Elena “Lena” Brown',
  weight: '1.458',
  metadata: { fragile: false, dimensions_cm: [37, 23, 14], note: null },
  origin: denver,
  destination: phoenix,
  estimatedDelivery: new Date('2026-09-25T21:00:00Z'),
  actualDelivery: null,
  estimatedLocal: { text: '2026-09-25 14:00', offsetMinutes: -420 },
  actualLocal: null,
  events: [
    {
      eventId: 9297,
      status: 'pending',
      at: new Date('2026-09-24T18:31:00Z'),
      recordedAt: new Date('2026-09-24T18:31:02.5Z'),
      location: denver,
      local: { text: '2026-09-24 12:31', offsetMinutes: -360 },
      reason: null,
    },
    {
      eventId: 9298,
      status: 'in_transit',
      at: new Date('2026-09-25T01:08:00Z'),
      recordedAt: new Date('2026-09-25T01:08:00Z'),
      location: reno,
      local: { text: '2026-09-24 18:08', offsetMinutes: 0 },
      reason: null,
    },
    {
      eventId: 9299,
      status: 'exception',
      at: new Date('2026-09-25T06:49:00Z'),
      recordedAt: new Date('2026-09-25T06:50:00Z'),
      location: denver,
      local: undefined,
      reason: 'damaged label',
    },
  ],
};

describe('the cached form of a track answer', () => {
  it('reads back what was stored, each place written once', () => {
    const text = encodeCachedAnswer(answer, 1_796_517_306_938);
    expect(text.startsWith('[2,1796517306938,')).toBe(true);
    expect(text.split('Denver Hub 3')).toHaveLength(2);
    expect(decodeCachedAnswer(text)).toEqual({ value: answer, cachedAt: 1_796_517_306_938 });
  });

  it('keeps "not found", and an answer delivered with its local time', () => {
    expect(decodeCachedAnswer(encodeCachedAnswer(null, 5))).toEqual({ value: null, cachedAt: 5 });
    const delivered: TrackedPackage = {
      ...answer,
      currentStatus: 'delivered',
      actualDelivery: new Date('2026-09-25T16:55:00Z'),
      actualLocal: { text: '2026-09-25 09:55', offsetMinutes: -420 },
      estimatedLocal: undefined,
    };
    expect(decodeCachedAnswer(encodeCachedAnswer(delivered, 7))?.value).toEqual(delivered);
  });

  it('takes an answer cached in another form for a miss', () => {
    expect(decodeCachedAnswer('[1,1796517306938,null]')).toBeUndefined();
    expect(decodeCachedAnswer('{"trackingNumber":"EE349576370US"}')).toBeUndefined();
  });
});
