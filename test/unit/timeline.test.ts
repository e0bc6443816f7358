import { describe, expect, it } from 'vitest';
import type { PackageStatus } from '../../src/domain/status.js';
import { deliveryVerdict, flagTimeline, type TimelineEvent } from '../../src/domain/timeline.js';
import { duration, formatLocal, formatWeight, localTime } from '../../src/render/track.render.js';

const place = { name: 'Denver Hub', city: 'Denver', state: 'CO', timeZone: 'America/Denver' };
const t0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const hour = 3_600_000;

function event(id: number, status: PackageStatus, atHours: number, recordedHours = atHours): TimelineEvent {
  return {
    eventId: id,
    status,
    at: new Date(t0 + atHours * hour),
    recordedAt: new Date(t0 + recordedHours * hour),
    location: place,
  };
}

describe('flagTimeline', () => {
  it('flags nothing on a clean journey', () => {
    const events = [
      event(1, 'pending', 0),
      event(2, 'in_transit', 2),
      event(3, 'out_for_delivery', 20),
      event(4, 'delivered', 24),
    ];
    expect(flagTimeline(events, new Date(t0 + 100 * hour), 48).map((e) => e.flags)).toEqual([[], [], [], []]);
  });

  it('flags out-of-order scans, forbidden transitions, scans after a final status and long gaps', () => {
    const events = [
      event(1, 'pending', 0),
      event(2, 'in_transit', 2, 30), // recorded after the later-dated scan below: out of order
      event(3, 'in_transit', 5, 6), // dated later, recorded first: in order
      event(4, 'available_for_pickup', 60), // 55 h gap
      event(5, 'out_for_delivery', 61), // available_for_pickup → out_for_delivery is forbidden
      event(6, 'delivered', 62),
      event(7, 'in_transit', 63), // after delivered
    ];
    const flags = flagTimeline(events, new Date(t0 + 64 * hour), 48).map((e) => e.flags);
    expect(flags).toEqual([[], ['out_of_order'], [], ['long_gap'], ['forbidden_transition'], [], ['after_terminal']]);
  });

  it('flags a package still moving that has not been scanned for longer than the threshold', () => {
    const events = [event(1, 'pending', 0), event(2, 'in_transit', 1)];
    expect(flagTimeline(events, new Date(t0 + 10 * hour), 48).at(-1)?.flags).toEqual([]);
    expect(flagTimeline(events, new Date(t0 + 50 * hour), 48).at(-1)?.flags).toEqual(['silent']);
  });
});

describe('deliveryVerdict', () => {
  const promised = new Date(t0 + 48 * hour);
  it('on time, late, overdue, due, or closed', () => {
    expect(
      deliveryVerdict(
        { currentStatus: 'delivered', estimatedDelivery: promised, actualDelivery: new Date(t0 + 40 * hour) },
        new Date(t0),
      ),
    ).toEqual({
      kind: 'on_time',
      byMs: 8 * hour,
    });
    expect(
      deliveryVerdict(
        { currentStatus: 'delivered', estimatedDelivery: promised, actualDelivery: new Date(t0 + 50 * hour) },
        new Date(t0),
      ),
    ).toEqual({
      kind: 'late',
      byMs: 2 * hour,
    });
    expect(
      deliveryVerdict(
        { currentStatus: 'in_transit', estimatedDelivery: promised, actualDelivery: null },
        new Date(t0 + 51 * hour),
      ),
    ).toEqual({
      kind: 'overdue',
      byMs: 3 * hour,
    });
    expect(
      deliveryVerdict(
        { currentStatus: 'in_transit', estimatedDelivery: promised, actualDelivery: null },
        new Date(t0 + 47 * hour),
      ),
    ).toEqual({
      kind: 'due',
      inMs: hour,
    });
    expect(
      deliveryVerdict({ currentStatus: 'returned', estimatedDelivery: promised, actualDelivery: null }, new Date(t0 + 99 * hour)),
    ).toEqual({
      kind: 'closed',
      status: 'returned',
    });
  });
});

describe('time rendering', () => {
  it('shows the location’s local time with its zone', () => {
    expect(localTime(new Date(t0), 'America/Denver')).toBe('2026-11-01 05:00 MST');
    expect(localTime(new Date(t0), 'America/New_York')).toBe('2026-11-01 07:00 EST');
  });

  it('writes durations for people', () => {
    expect(duration(12_000)).toBe('12 s');
    expect(duration(90 * 60_000)).toBe('1 h 30 min');
    expect(duration(50 * hour)).toBe('2 d 2 h');
  });
});

describe('local times and weights without ICU', () => {
  it('prints a local time with its UTC offset', () => {
    expect(formatLocal({ text: '2026-11-01 05:00', offsetMinutes: -420 })).toBe('2026-11-01 05:00 UTC−07:00');
    expect(formatLocal({ text: '2026-11-01 17:30', offsetMinutes: 330 })).toBe('2026-11-01 17:30 UTC+05:30');
    expect(formatLocal({ text: '2026-11-01 12:00', offsetMinutes: 0 })).toBe('2026-11-01 12:00 UTC+00:00');
  });

  it('prints weights as the ICU formatter did: grouped, up to three decimals', () => {
    for (const w of ['0.71', '1.500', '12.345', '1234.5', '1000000', '0.001']) {
      expect(formatWeight(w)).toBe(Number(w).toLocaleString('en-US', { maximumFractionDigits: 3 }));
    }
  });
});
