/**
 * The contracts between the composition root (src/composition.ts) and the roles it wires: what a
 * role is given (`AppContext`) and what it hands back (`Service`). They live here, not in the
 * composition root, so that the imports run one way: composition → roles → application → domain,
 * never back into the root (test/unit/platform/architecture.test.ts checks it).
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import type { EventPublisher, Kafka } from '../infra/kafka';
import type { Logger } from '../infra/logger';

/** The adapters the composition root builds once per process and shares between the roles. */
export interface AppContext {
  config: Config;
  log: Logger;
  clock: Clock;
  pool: Pool;
  kafka: Kafka;
  publisher: EventPublisher;
  metrics: Registry;
}

/** A long-running part of the process (projector, timer runner, outbox relay). */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /** Finishes in-flight work (commits it) and releases its resources. */
  stop(): Promise<void>;
}
