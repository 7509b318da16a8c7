/** The database cannot be opened or is not an exflow database. Exit code 3. */
export class StoreError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'StoreError';
  }
}

