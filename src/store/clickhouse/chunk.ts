// How many flows an insert of exflow ship sends: small, so that the command line can name the
// limits in its help without loading the ship (and Node's http) for every command.

/** Flows an insert sends by default. */
export const FLOW_CHUNK = 100_000;
/** ClickHouse's default max_insert_block_size: an insert of more rows is written as several blocks. */
export const MAX_SHIP_CHUNK = 1_048_576;
