/** A capture that cannot be read at all (unknown format, unreadable file). Exit code 2. */
export class CaptureOpenError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'CaptureOpenError';
  }
}

/**
 * Damage found while walking records: reading stops, what came before is kept.
 * Thrown by a walker, caught by the reader, never seen by the user as a trace.
 */
export class CaptureDamage extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${reason} at byte ${offset}`);
    this.name = 'CaptureDamage';
  }
}
