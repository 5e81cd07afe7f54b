import { CoalescingPublisher } from '../../../src/application/coalescing-publisher';
import { UnavailableError } from '../../../src/errors';
import type { EventPublisher, OutgoingRecord } from '../../../src/infra/kafka';

/** A publisher whose calls stay open until the test settles them. */
class ControlledPublisher implements EventPublisher {
  readonly calls: {
    topic: string;
    keys: string[];
    timeoutMs?: number;
    settle: (err?: Error) => void;
  }[] = [];

  publish(
    topic: string,
    records: OutgoingRecord[],
    options?: { timeoutMs?: number },
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.calls.push({
        topic,
        keys: records.map((r) => r.key),
        timeoutMs: options?.timeoutMs,
        settle: (err) => (err ? reject(err) : resolve()),
      });
    });
  }

  async close(): Promise<void> {}
}

const rec = (key: string): OutgoingRecord => ({ key, value: key });
const flushMicrotasks = () => new Promise((r) => setImmediate(r));

describe('CoalescingPublisher', () => {
  it('sends at once when idle, and gathers what arrives meanwhile into the next request', async () => {
    const inner = new ControlledPublisher();
    const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
    const first = pub.publish('t', [rec('a')]);
    const second = pub.publish('t', [rec('b'), rec('c')]);
    const third = pub.publish('t', [rec('d')]);
    expect(inner.calls.map((c) => c.keys)).toEqual([['a']]);
    inner.calls[0]!.settle();
    await first;
    await flushMicrotasks();
    expect(inner.calls.map((c) => c.keys)).toEqual([['a'], ['b', 'c', 'd']]);
    inner.calls[1]!.settle();
    await Promise.all([second, third]);
  });

  it('fails every caller of a failed request, and only them', async () => {
    const inner = new ControlledPublisher();
    const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
    const first = pub.publish('t', [rec('a')]);
    const second = pub.publish('t', [rec('b')]);
    const third = pub.publish('t', [rec('c')]);
    inner.calls[0]!.settle();
    await first;
    await flushMicrotasks();
    inner.calls[1]!.settle(new UnavailableError('kafka', 'down'));
    await expect(second).rejects.toThrow('down');
    await expect(third).rejects.toThrow('down');
  });

  it('keeps requests within maxRecords without splitting a caller', async () => {
    const inner = new ControlledPublisher();
    const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000, maxRecords: 3 });
    const all = [
      pub.publish('t', [rec('a')]),
      pub.publish('t', [rec('b'), rec('c')]),
      pub.publish('t', [rec('d'), rec('e')]),
      pub.publish('t', [rec('f'), rec('g'), rec('h'), rec('i')]),
    ];
    for (let i = 0; i < 4; i++) {
      await flushMicrotasks();
      inner.calls[i]?.settle();
    }
    await Promise.all(all);
    expect(inner.calls.map((c) => c.keys)).toEqual([
      ['a'],
      ['b', 'c'],
      ['d', 'e'],
      ['f', 'g', 'h', 'i'],
    ]);
  });

  it('never mixes topics in one request', async () => {
    const inner = new ControlledPublisher();
    const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
    const all = [
      pub.publish('x', [rec('a')]),
      pub.publish('y', [rec('b')]),
      pub.publish('x', [rec('c')]),
    ];
    inner.calls[0]!.settle();
    await flushMicrotasks();
    inner.calls[1]!.settle();
    await flushMicrotasks();
    inner.calls[2]!.settle();
    await Promise.all(all);
    expect(inner.calls.map((c) => [c.topic, c.keys])).toEqual([
      ['x', ['a']],
      ['y', ['b']],
      ['x', ['c']],
    ]);
  });

  it('rejects a caller still queued at its deadline, without sending its records', async () => {
    jest.useFakeTimers();
    try {
      const inner = new ControlledPublisher();
      const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
      const first = pub.publish('t', [rec('a')]);
      const queued = pub.publish('t', [rec('b')], { timeoutMs: 100 });
      const outcome = queued.catch((err: unknown) => err);
      jest.advanceTimersByTime(100);
      expect(await outcome).toBeInstanceOf(UnavailableError);
      inner.calls[0]!.settle();
      await first;
      expect(inner.calls.map((c) => c.keys)).toEqual([['a']]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('expires queued callers by their own deadlines, whatever order they came in', async () => {
    jest.useFakeTimers();
    try {
      const inner = new ControlledPublisher();
      const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
      const first = pub.publish('t', [rec('a')], { timeoutMs: 1000 });
      const settled: string[] = [];
      const track = (name: string, p: Promise<void>) =>
        p.then(
          () => settled.push(`${name} ok`),
          () => settled.push(`${name} expired`),
        );
      const slow = track('slow', pub.publish('t', [rec('b')], { timeoutMs: 500 }));
      const quick = track('quick', pub.publish('t', [rec('c')], { timeoutMs: 100 }));
      const kept = track('kept', pub.publish('t', [rec('d')], { timeoutMs: 900 }));
      await jest.advanceTimersByTimeAsync(100);
      expect(settled).toEqual(['quick expired']);
      await jest.advanceTimersByTimeAsync(400);
      expect(settled).toEqual(['quick expired', 'slow expired']);
      inner.calls[0]!.settle();
      await first;
      await jest.advanceTimersByTimeAsync(0);
      // The survivor goes out in the next request, alone.
      expect(inner.calls.map((c) => c.keys)).toEqual([['a'], ['d']]);
      inner.calls[1]!.settle();
      await Promise.all([slow, quick, kept]);
      expect(settled).toEqual(['quick expired', 'slow expired', 'kept ok']);
    } finally {
      jest.useRealTimers();
    }
  });
  it('bounds a publish that never answers and moves on', async () => {
    jest.useFakeTimers();
    try {
      const inner = new ControlledPublisher();
      const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 200 });
      const hung = pub.publish('t', [rec('a')]).catch((err: unknown) => err);
      expect(inner.calls[0]!.timeoutMs).toBe(200);
      const next = pub.publish('t', [rec('b')], { timeoutMs: 1000 });
      await jest.advanceTimersByTimeAsync(200);
      expect(await hung).toBeInstanceOf(UnavailableError);
      expect(inner.calls.map((c) => c.keys)).toEqual([['a'], ['b']]);
      inner.calls[1]!.settle();
      await next;
    } finally {
      jest.useRealTimers();
    }
  });

  it('close() waits until nothing is queued or in flight', async () => {
    const inner = new ControlledPublisher();
    const pub = new CoalescingPublisher(inner, { defaultTimeoutMs: 1000 });
    const sent = pub.publish('t', [rec('a')]);
    let closed = false;
    const closing = pub.close().then(() => (closed = true));
    await flushMicrotasks();
    expect(closed).toBe(false);
    inner.calls[0]!.settle();
    await sent;
    await closing;
    expect(closed).toBe(true);
    await pub.close(); // idle: at once
  });
});
