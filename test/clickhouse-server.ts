// The tests' ClickHouse servers (src/bench/clickhouse-server.ts), each in a directory of the run's.
import { startClickHouse as start, type ClickHouseServer } from '../src/bench/clickhouse-server';
import { tmpDir } from './helpers';

export { freePort, type ClickHouseServer } from '../src/bench/clickhouse-server';

export const startClickHouse = (o: Parameters<typeof start>[1] = {}): Promise<ClickHouseServer> => start(tmpDir(), o);
