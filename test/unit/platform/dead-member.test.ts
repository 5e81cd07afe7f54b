import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isDeadPredecessor, processAlive } from '../../../src/infra/kafka-consumer';

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

/** What the projector asks of a predecessor's pid (a real process table: Linux). */
describe('processAlive', () => {
  it('a running process is alive; an exited one that nobody reaped (a zombie) is not', async () => {
    // `sh` starts `sleep 0` in the background, prints its pid and execs `sleep 30`: the exited
    // `sleep 0` stays a zombie child of a process that never waits for it, as a killed service
    // stays one until the process that adopted it reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout.once('data', (b: Buffer) => resolve(String(b))),
        ),
      );
      const state = () => {
        const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
        return stat[stat.lastIndexOf(')') + 2];
      };
      while (state() !== 'Z') await new Promise((resolve) => setTimeout(resolve, 10));
      expect(processAlive(parent.pid!)).toBe(true);
      expect(processAlive(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
    expect(processAlive(2 ** 22 + 1)).toBe(false); // above Linux's pid_max: no such process
  });
});
