/**
 * What every table module shares: a statement as text and values, positional parameters, and
 * instants between epoch ms (the domain's unit) and Postgres `timestamptz`.
 */

/** A parameterised statement; placeholders are numbered from $1 within it. */
export interface Statement {
  text: string;
  values: unknown[];
}

/** Positional parameters collected while a statement is assembled. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** Epoch ms as a Date for a `timestamptz` parameter (null stays null). */
export const ts = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export const iso = (t: number): string => new Date(t).toISOString();

/** Epoch ms as a `timestamptz[]` literal, for an array of arrays passed as `text[]`. */
export const isoArray = (instants: readonly number[]): string => `{${instants.map(iso).join(',')}}`;

/** A timestamptz as integer epoch milliseconds (null stays null). */
export function epochMs(column: string): string {
  return `(extract(epoch FROM ${column}) * 1000)::bigint`;
}

export type N = number | null;
