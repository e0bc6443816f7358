import { describe, expect, it } from 'vitest';
import { allowedTransitions, isTransitionAllowed, packageStatuses, terminalStatuses } from '../../src/domain/status.js';

describe('the state machine of DOMAIN §2', () => {
  it('has the ten statuses, three of them terminal', () => {
    expect(packageStatuses).toHaveLength(10);
    expect([...terminalStatuses].sort()).toEqual(['cancelled', 'delivered', 'returned']);
  });

  it('lets nothing leave a terminal status', () => {
    for (const terminal of terminalStatuses) {
      for (const to of packageStatuses) expect(isTransitionAllowed(terminal, to)).toBe(false);
    }
  });

  it('follows the listed transitions', () => {
    expect(isTransitionAllowed('pending', 'in_transit')).toBe(true);
    expect(isTransitionAllowed('pending', 'delivered')).toBe(false);
    expect(isTransitionAllowed('in_transit', 'in_transit')).toBe(true);
    expect(isTransitionAllowed('available_for_pickup', 'out_for_delivery')).toBe(false);
    expect(isTransitionAllowed('return_to_sender', 'returned')).toBe(true);
    expect(isTransitionAllowed('return_to_sender', 'delivered')).toBe(false);
  });

  it('lets an exception go to any non-terminal status, or delivered — but not returned or cancelled', () => {
    const targets = new Set(allowedTransitions.exception);
    for (const status of packageStatuses) {
      const expected = !terminalStatuses.has(status) || status === 'delivered';
      expect(targets.has(status), status).toBe(expected);
    }
  });
});
