import { isDeadPredecessor } from '../../../src/infra/kafka-consumer';

/** Which consumer group members a starting projector removes (issue 12 §1). */
describe('isDeadPredecessor', () => {
  const self = { host: 'node-a', pid: 4242 };
  const alive = (pid: number) => pid === 4242 || pid === 100;

  it.each([
    ['this host, process gone', { host: 'node-a', pid: 999 }, true],
    [
      'this host, our own pid (a container restarted under the same pid)',
      { host: 'node-a', pid: 4242 },
      true,
    ],
    ['this host, process still running (another instance)', { host: 'node-a', pid: 100 }, false],
    ['another host (cannot tell whether it runs)', { host: 'node-b', pid: 999 }, false],
    ['no pid', { host: 'node-a' }, false],
    ['not our tag', {}, false],
  ])('%s', (_what, tag, expected) => {
    expect(isDeadPredecessor(tag, self, alive)).toBe(expected);
  });
});
