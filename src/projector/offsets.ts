import type { PartitionClaim } from '../infra/kafka-consumer';
import { beginStatement, quoteIdent, type Pool, type PoolClient } from '../infra/db';

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
 * Opens a batch transaction and, as its first statement, moves next_offset from `from` to `to` if
 * the caller still holds `epoch`: one round trip (a simple-protocol multi-statement query; every
 * value in it is a number or an escaped literal). The update takes the row lock, so a concurrent
 * claim waits for this transaction and then sees its result. On anything but `ok` nothing was
 * written. Run it first in `withTransaction(pool, fn, { callerBegins: true })` (src/infra/db.ts).
 */
export async function beginAndAdvance(
  client: PoolClient,
  key: OffsetsKey,
  at: { partition: number; epoch: bigint; from: bigint; to: bigint; schema?: string },
): Promise<AdvanceResult> {
  const lit = (s: string) => client.escapeLiteral(s);
  // A rebuild writes into its shadow schema, and need not wait for the WAL flush: if Postgres
  // crashes, the rebuild is run again from scratch (the swap itself commits synchronously).
  const statements = [beginStatement({ asyncCommit: at.schema !== undefined && at.schema !== '' })];
  if (at.schema) statements.push(`SET LOCAL search_path = ${quoteIdent(at.schema)}, public`);
  statements.push(
    `UPDATE projector_offsets SET next_offset = ${at.to}, updated_at = now()
     WHERE group_id = ${lit(key.groupId)} AND topic = ${lit(key.topic)}
       AND partition = ${Math.trunc(at.partition)} AND epoch = ${at.epoch}
       AND next_offset = ${at.from}`,
  );
  const results = (await client.query(statements.join(';\n'))) as unknown as {
    rowCount: number | null;
  }[];
  if (results[results.length - 1]?.rowCount === 1) return { kind: 'ok' };
  const { rows } = await client.query<{ next_offset: string; epoch: string }>(
    `SELECT next_offset, epoch FROM projector_offsets
     WHERE group_id = $1 AND topic = $2 AND partition = $3`,
    [key.groupId, key.topic, at.partition],
  );
  const row = rows[0];
  if (!row || BigInt(row.epoch) !== at.epoch) return { kind: 'fenced' };
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
