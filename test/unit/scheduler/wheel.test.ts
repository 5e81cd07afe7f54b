import fc from 'fast-check';
import { DueTimeWheel } from '../../../src/scheduler/wheel';

describe('DueTimeWheel', () => {
  test('pops due times in ascending order (any input)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000 })), (times) => {
        const wheel = new DueTimeWheel(10_000);
        wheel.load(times, 2_000_000);
        const out: number[] = [];
        for (let next = wheel.peek(); next !== undefined; next = wheel.peek()) {
          out.push(next);
          wheel.dropUntil(next);
        }
        expect(out).toEqual([...new Set(times)].sort((a, b) => a - b));
      }),
    );
  });

  test('dropUntil removes everything at or before the instant, duplicates included', () => {
    const wheel = new DueTimeWheel(100);
    wheel.load([5, 1, 3, 3, 9], 100);
    wheel.dropUntil(3);
    expect(wheel.peek()).toBe(5);
    expect(wheel.size).toBe(2);
  });

  test('takeUntil hands out the entries a claim covers, ascending; the next one stays armed', () => {
    const wheel = new DueTimeWheel(100);
    wheel.load([7, 2, 5, 5, 12], 100);
    expect(wheel.takeUntil(6)).toEqual([2, 5, 5]);
    expect(wheel.peek()).toBe(7);
    expect(wheel.takeUntil(6)).toEqual([]);
  });

  test('announcements beyond the loaded horizon are left to the next load', () => {
    const wheel = new DueTimeWheel(100);
    wheel.load([10], 100);
    expect(wheel.announce(50)).toBe(true);
    expect(wheel.announce(150)).toBe(false);
    expect(wheel.size).toBe(2);
  });

  test('a full wheel shrinks its horizon instead of dropping a timer silently', () => {
    const wheel = new DueTimeWheel(2);
    wheel.load([10, 20], 100);
    expect(wheel.announce(50)).toBe(false);
    expect(wheel.horizon).toBe(49);
    // Anything later than the shrunk horizon is also refused: the next load brings it.
    expect(wheel.announce(60)).toBe(false);
  });

  test('invalidate: nothing is accepted until the next load', () => {
    const wheel = new DueTimeWheel(10);
    wheel.load([], 100);
    wheel.invalidate();
    expect(wheel.announce(5)).toBe(false);
  });
});
