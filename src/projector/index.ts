/**
 * The projector role: incident.events → Postgres read models, exactly once per event.
 * `createProjectorService` is what src/composition.ts wires in for `ROLES=…projector…`.
 */
import type { PolicyStore } from '../application/policy-store';
import type { AppContext } from '../application/roles';
import { createProjector, type Projector } from './projector';

export {
  createProjector,
  createBatchHandler,
  type Projector,
  type ProjectorOptions,
} from './projector';
export { rebuildProjection, projectionChecksums, type RebuildReport } from './rebuild';
export { projectIncident } from './project-incident';
export { DLQ_HEADERS } from './dlq';

export async function createProjectorService(
  context: Pick<
    AppContext,
    'config' | 'log' | 'clock' | 'pool' | 'kafka' | 'publisher' | 'metrics'
  >,
  /** Built by the composition root from POLICY_FILE (src/application/policy-store.ts). */
  policies: PolicyStore,
): Promise<Projector> {
  const { config } = context;
  return createProjector(
    { ...context, policies },
    {
      groupId: config.PROJECTOR_GROUP_ID,
      topic: config.KAFKA_TOPIC_EVENTS,
      dlqTopic: config.KAFKA_TOPIC_DLQ,
      topics: {
        warnings: config.KAFKA_TOPIC_WARNINGS,
        escalations: config.KAFKA_TOPIC_ESCALATIONS,
      },
      concurrency: config.PROJECTOR_CONCURRENCY,
      fetchMaxBytes: config.PROJECTOR_FETCH_MAX_BYTES,
      maxEventBytes: config.PROJECTOR_MAX_EVENT_BYTES,
    },
  );
}
