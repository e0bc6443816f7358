import type { Client, Submittable } from 'pg';
import type { serialize as pgSerialize } from 'pg-protocol';

type Serialize = typeof pgSerialize;

/** A read run as a named prepared statement; `name` must not be used with `client.query` too. */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

export type PreparedValue = string | number | null;

type TypeParser = (value: string) => unknown;

/** What the server described once per connection: the statement's columns and their parsers. */
interface Described {
  readonly text: string;
  readonly names: string[];
  readonly parsers: TypeParser[];
}

// Per client: a pg Client is one server session for its whole life (it never reconnects).
const describedBy = new WeakMap<Client, Map<string, Described>>();

// Loaded on first use: the embedded database never needs it (pg loads it anyway for a server).
let protocol: { serialize: Serialize; executeAndSync: Buffer } | undefined;
const toText = (value: PreparedValue): string | null => (value === null ? null : String(value));

/**
 * One execution through node-postgres's Submittable interface, written as a single socket write
 * of pre-encoded messages. The first use on a connection closes any stale statement of that name,
 * parses it and asks for its row description; later uses send only Bind, Execute and Sync, and
 * decode rows with the described columns. This is what libpq's PQexecPrepared does; pg's own
 * Query re-describes the portal and builds its result per call, which cost the track read
 * 7–10 % of its time here (the measurements are in the README).
 */
class PreparedRead<Row> implements Submittable {
  callback: ((error: Error | null, rows?: Row[]) => void) | undefined;
  private readonly rows: Row[] = [];
  private described: Described | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly client: Client,
    private readonly cache: Map<string, Described>,
    private readonly protocol: { serialize: Serialize; executeAndSync: Buffer },
    private readonly statement: PreparedStatement,
    private readonly values: readonly PreparedValue[],
  ) {}

  submit(connection: object): Error | undefined {
    const stream = (connection as { stream?: { writable?: boolean; write(chunk: Buffer): boolean } }).stream;
    if (stream?.writable !== true) return new Error('Connection terminated');
    const { name, text } = this.statement;
    const known = this.cache.get(name);
    this.described = known?.text === text ? known : undefined;
    const { serialize, executeAndSync } = this.protocol;
    const bind = serialize.bind({ statement: name, values: this.values.map(toText) });
    stream.write(
      this.described !== undefined
        ? Buffer.concat([bind, executeAndSync])
        : Buffer.concat([
            serialize.close({ type: 'S', name }),
            serialize.parse({ name, text }),
            serialize.describe({ type: 'S', name }),
            bind,
            executeAndSync,
          ]),
    );
    return undefined;
  }

  /** Arrives only after our Describe of the statement (its format codes are all text then). */
  handleRowDescription(message: { fields: { name: string; dataTypeID: number }[] }): void {
    this.described = {
      text: this.statement.text,
      names: message.fields.map((f) => f.name),
      parsers: message.fields.map((f) => this.client.getTypeParser(f.dataTypeID, 'text') as TypeParser),
    };
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    const described = this.described;
    if (described === undefined) {
      this.failure ??= new Error(`prepared statement ${this.statement.name} returned rows it did not describe`);
      return;
    }
    const row: Record<string, unknown> = {};
    const { fields } = message;
    for (let i = 0; i < fields.length; i += 1) {
      const value = fields[i];
      row[described.names[i] ?? `?column${i}?`] = value === null || value === undefined ? null : described.parsers[i]?.(value);
    }
    this.rows.push(row as Row);
  }

  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  /** A server error ends the exchange here (the client drops us before ReadyForQuery). */
  handleError(error: Error): void {
    // Whatever state the statement is in now, the next use on this connection prepares it afresh.
    this.cache.delete(this.statement.name);
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    if (this.failure !== undefined) {
      this.cache.delete(this.statement.name);
      this.callback?.(this.failure);
      return;
    }
    if (this.described !== undefined) this.cache.set(this.statement.name, this.described);
    this.callback?.(null, this.rows);
  }
}

/**
 * The rows of a prepared read on a node-postgres client (or a pooled connection, which is one).
 * Values are sent as text; columns are decoded with the client's type parsers.
 */
export async function queryPrepared<Row>(
  client: Client,
  statement: PreparedStatement,
  values: readonly PreparedValue[],
): Promise<Row[]> {
  if (protocol === undefined) {
    const { serialize } = await import('pg-protocol');
    protocol = { serialize, executeAndSync: Buffer.concat([serialize.execute(), serialize.sync()]) };
  }
  const loaded = protocol;
  let cache = describedBy.get(client);
  if (cache === undefined) {
    cache = new Map();
    describedBy.set(client, cache);
  }
  const described = cache;
  return new Promise<Row[]>((resolve, reject) => {
    const read = new PreparedRead<Row>(client, described, loaded, statement, values);
    read.callback = (error, rows) => (error === null ? resolve(rows ?? []) : reject(error));
    client.query(read);
  });
}

/**
 * Deallocates the statements queryPrepared prepared on this client, so the next use prepares
 * them afresh. PostgreSQL keeps a prepared statement's plan-cost history across invalidations:
 * after a DROP INDEX that was rolled back, the track read stayed on re-planned custom plans
 * (0.85 ms a lookup instead of 0.2 ms) for as long as the session lived. The benchmark's
 * experiments call this around every arm that changes the schema.
 */
export async function forgetPreparedStatements(client: Client): Promise<void> {
  const cache = describedBy.get(client);
  if (cache === undefined) return;
  for (const name of [...cache.keys()]) {
    cache.delete(name);
    try {
      await client.query(`deallocate ${client.escapeIdentifier(name)}`);
    } catch (error) {
      // Already gone (26000) is what we wanted; anything else is the caller's to hear.
      if ((error as { code?: unknown }).code !== '26000') throw error;
    }
  }
}
