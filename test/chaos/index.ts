/**
 * Brings up the fault suite's own infrastructure (a Postgres cluster and a Kafka broker it may
 * kill) on `portBase` … `portBase + 49`: broker `portBase + 10` (controller + 11), Postgres
 * `portBase + 20`, service instances `portBase + 30` … `+ 49` (reused in turn).
 */
import { startOwnBroker, startPgCluster, type OwnBroker, type PgCluster } from './infra';
import type { ChaosEnv } from './scenarios';

export async function bringUp(
  portBase: number,
  say: (line: string) => void,
): Promise<ChaosEnv & { teardown(): Promise<void> }> {
  let pg: PgCluster | undefined;
  let broker: OwnBroker | undefined;
  try {
    const t0 = Date.now();
    pg = await startPgCluster(portBase + 20);
    say(`own Postgres cluster on 127.0.0.1:${pg.port} (${pg.dir}) in ${Date.now() - t0} ms`);
    const t1 = Date.now();
    broker = await startOwnBroker(portBase + 10);
    say(`own Kafka broker on ${broker.brokers} in ${Date.now() - t1} ms`);
  } catch (err) {
    await broker?.destroy().catch(() => undefined);
    await pg?.destroy().catch(() => undefined);
    throw new Error(
      `the fault suite could not bring up its infrastructure: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let port = portBase + 30;
  const own = { pg, broker };
  return {
    ...own,
    say,
    nextPort: () => {
      if (port > portBase + 49) port = portBase + 30;
      return port++;
    },
    teardown: async () => {
      await own.broker.destroy().catch(() => undefined);
      await own.pg.destroy().catch(() => undefined);
    },
  };
}
