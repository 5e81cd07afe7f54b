import {
  compareCursors,
  formatCursor,
  parseCursor,
  type FeedRow,
} from '../../../src/application/stream-feed';
import { render } from '../../../src/http/stream';

const T0 = Date.parse('2026-11-24T02:00:00.000Z');

describe('feed cursors', () => {
  it('format as <tx>-<id> and parse back', () => {
    const c = { tx: '18446744073709551', id: '42' };
    expect(parseCursor(formatCursor(c))).toEqual(c);
  });

  it('refuse anything else', () => {
    // Beyond Postgres' int8 (a Last-Event-ID of 1-9999999999999999999 was a 500): not ours.
    for (const bad of [
      undefined,
      '',
      '42',
      'a-b',
      '1-2-3',
      '-1-2',
      '1-9999999999999999999',
      '9223372036854775808-1',
    ]) {
      expect(parseCursor(bad)).toBeNull();
    }
  });

  it('order by transaction first, then id (as big integers, not strings)', () => {
    expect(compareCursors({ tx: '9', id: '100' }, { tx: '10', id: '1' })).toBe(-1);
    expect(compareCursors({ tx: '10', id: '9' }, { tx: '10', id: '10' })).toBe(-1);
    expect(compareCursors({ tx: '10', id: '10' }, { tx: '10', id: '10' })).toBe(0);
  });
});

describe('stream event data', () => {
  const base = { cursor: { tx: '1', id: '1' }, incidentId: 'INC-1', severity: 'I', site: 'DC' };

  it('renders a milestone as the read API does, with its state at send time', () => {
    const row: FeedRow = {
      ...base,
      kind: 'milestone',
      payload: {
        incidentId: 'INC-1',
        milestone: 'response',
        cycle: 0,
        state: 'pending',
        startAt: T0,
        dueAt: T0 + 300_000,
        warnAt: [T0 + 240_000],
        metAt: null,
        breachedAt: null,
        pausedMs: 0,
        escalatesToTier: 2,
      },
    };
    expect(render(row, T0 + 250_000)).toEqual({
      incidentId: 'INC-1',
      milestone: 'response',
      cycle: 0,
      state: 'warned',
      startAt: '2026-11-24T02:00:00.000Z',
      dueAt: '2026-11-24T02:05:00.000Z',
      warnAt: ['2026-11-24T02:04:00.000Z'],
      metAt: null,
      breachedAt: null,
      remainingSeconds: 50,
      pausedSeconds: 0,
      escalatesToTier: 2,
    });
    expect(render(row, T0 + 300_000)).toMatchObject({ state: 'breached', remainingSeconds: 0 });
  });

  it('renders incident instants as ISO strings and passes SLA events through', () => {
    const incident: FeedRow = {
      ...base,
      kind: 'incident',
      payload: { incidentId: 'INC-1', tier: 2, reportedAt: T0, resolvedAt: null },
    };
    expect(render(incident, T0)).toMatchObject({
      tier: 2,
      reportedAt: '2026-11-24T02:00:00.000Z',
      resolvedAt: null,
    });
    const sla: FeedRow = { ...base, kind: 'sla', payload: { type: 'sla.breached', id: 'x' } };
    expect(render(sla, T0)).toEqual({ type: 'sla.breached', id: 'x' });
  });
});
