/** Exit codes, documented in README.md ("Exit codes"). */
export const enum Exit {
  Ok = 0,
  /** A bug: exflow failed in a way it did not foresee. */
  Internal = 1,
  /** Bad input: a capture that cannot be read at all, or invalid rules or inventory. */
  BadInput = 2,
  /** The database cannot be opened or is not an exflow database. */
  Database = 3,
  /** Wrong command-line usage. */
  Usage = 64,
  /** Stopped by SIGINT (Ctrl-C) or SIGTERM. */
  Interrupted = 130,
  Terminated = 143,
}

/** A problem the user can act on: printed as one line, never as a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: Exit,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
