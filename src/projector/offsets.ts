import type { PartitionClaim } from '../infra/kafka-consumer';
import type { Pool, PoolClient } from '../infra/db';

/**
 * Kafka offsets of the projector, in Postgres (projector_offsets), written in the same transaction
 * as the read model: the read model is exactly "every record before next_offset, applied once".
 *
 * Fencing. Taking a partition bumps its `epoch` (and names the `owner`). Every batch advances the
 * offset with a compare-and-set on (epoch, next_offset): a member that lost the partition (it was
 * paused, its session expired, another member claimed it) still holds the old epoch, its update
 * matches no row, and its transaction is rolled back before anything it wrote becomes visible.
 * The next_offset half of the condition also makes a batch that starts anywhere but at the stored
 * position fail, so the same record can never be applied twice even by its rightful owner.
 */
export interface OffsetsKey {
  groupId: string;
  topic: string;
}

/**
 * Takes ownership of `partitions`: one statement, rows created on first use (next_offset 0 =
 * from the beginning; the events topic is kept forever). Row locks taken in partition order, so
 * two members claiming overlapping sets cannot deadlock.
 */
export async function claimPartitions(
  pool: Pool | PoolClient,
  key: OffsetsKey,
  partitions: number[],
  owner: string,
): Promise<PartitionClaim[]> {
  const sorted = [...new Set(partitions)].sort((a, b) => a - b);
  const { rows } = await pool.query<{ partition: number; next_offset: string; epoch: string }>(
    `INSERT INTO projector_offsets AS o (group_id, topic, partition, next_offset, epoch, owner)
     SELECT $1, $2, p, 0, 1, $4 FROM unnest($3::int[]) AS p ORDER BY p
     ON CONFLICT (group_id, topic, partition) DO UPDATE
       SET epoch = o.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
     RETURNING partition, next_offset, epoch`,
    [key.groupId, key.topic, sorted, owner],
  );
  return rows
    .map((r) => ({
      partition: r.partition,
      nextOffset: BigInt(r.next_offset),
      epoch: BigInt(r.epoch),
    }))
    .sort((a, b) => a.partition - b.partition);
}

export type AdvanceResult =
  | { kind: 'ok' }
  /** Another member claimed the partition since (its epoch is newer). */
  | { kind: 'fenced' }
  /** Still ours, but the stored position differs from where this batch starts (e.g. a rebuild). */
  | { kind: 'moved'; nextOffset: bigint };

/**
 * The first statement of every batch transaction: moves next_offset from `from` to `to` if the
 * caller still holds `epoch`. It also takes the row lock, so a concurrent claim waits for this
 * transaction and then sees its result (and a batch never waits behind half of another batch).
 */
export async function advanceOffset(
  client: PoolClient,
  key: OffsetsKey,
  partition: number,
  epoch: bigint,
  from: bigint,
  to: bigint,
): Promise<AdvanceResult> {
  const updated = await client.query(
    `UPDATE projector_offsets SET next_offset = $6, updated_at = now()
     WHERE group_id = $1 AND topic = $2 AND partition = $3 AND epoch = $4 AND next_offset = $5`,
    [key.groupId, key.topic, partition, epoch.toString(), from.toString(), to.toString()],
  );
  if (updated.rowCount === 1) return { kind: 'ok' };
  const { rows } = await client.query<{ next_offset: string; epoch: string }>(
    `SELECT next_offset, epoch FROM projector_offsets
     WHERE group_id = $1 AND topic = $2 AND partition = $3`,
    [key.groupId, key.topic, partition],
  );
  const row = rows[0];
  if (!row || BigInt(row.epoch) !== epoch) return { kind: 'fenced' };
  return { kind: 'moved', nextOffset: BigInt(row.next_offset) };
}

/** Stored positions of a topic (for lag, rebuild and tests). */
export async function storedOffsets(
  pool: Pool | PoolClient,
  key: OffsetsKey,
): Promise<Map<number, bigint>> {
  const { rows } = await pool.query<{ partition: number; next_offset: string }>(
    `SELECT partition, next_offset FROM projector_offsets WHERE group_id = $1 AND topic = $2`,
    [key.groupId, key.topic],
  );
  return new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
}
