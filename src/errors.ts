/**
 * A small error hierarchy: a machine-readable code and whether retrying may help. HTTP status codes
 * are assigned only at the edge (src/http), never here.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retriable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Kafka or Postgres is down or too slow; the caller may retry later. */
export class UnavailableError extends AppError {
  constructor(
    readonly dependency: 'kafka' | 'postgres',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency}_unavailable`, message, true, options);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super('not_found', message);
  }
}

export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super('invalid', message);
  }
}
