import { createRequire } from 'node:module';
import type { Client, Submittable } from 'pg';
import type { serialize as pgSerialize } from 'pg-protocol';

/**
 * A read run as a named prepared statement. Its columns must be named in the text (no `select *`):
 * they are described once per connection. `name` must not be used with `client.query` too.
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

export type PreparedValue = string | number | null;

type TypeParser = (value: string) => unknown;
type Serialize = typeof pgSerialize;

/** What the server described once per connection: the statement's columns and their parsers. */
interface Described {
  readonly text: string;
  readonly names: string[];
  readonly parsers: TypeParser[];
}

interface Protocol {
  serialize: Serialize;
  executeAndSync: Buffer;
  sync: Buffer;
}

// Per client: a pg Client is one server session for its whole life (it never reconnects).
const describedBy = new WeakMap<Client, Map<string, Described>>();

let protocol: Protocol | undefined;

/**
 * Encodes with the serializer of the pg-protocol that pg itself uses: store/pg-driver.ts hands it
 * over as it loads pg (in the CLI's bundle that is the one copy, inside it, rather than seven more
 * files read from node_modules: ~5 ms of a `track`).
 */
export function usePgProtocol(serialize: Serialize): Protocol {
  protocol ??= { serialize, executeAndSync: Buffer.concat([serialize.execute(), serialize.sync()]), sync: serialize.sync() };
  return protocol;
}

// Otherwise (a program that brought its own pg) it is loaded synchronously on first use, so a read
// is queued on the client in the order it was called.
const requireCommonJs = createRequire(import.meta.url);
function loadProtocol(): Protocol {
  return protocol ?? usePgProtocol((requireCommonJs('pg-protocol') as { serialize: Serialize }).serialize);
}

function cacheOf(client: Client): Map<string, Described> {
  let cache = describedBy.get(client);
  if (cache === undefined) {
    cache = new Map();
    describedBy.set(client, cache);
  }
  return cache;
}

const toText = (value: PreparedValue | undefined): string | null =>
  value === null || value === undefined ? null : String(value);

interface Socket {
  writable?: boolean;
  write(chunk: Buffer): boolean;
}

function socketOf(connection: object): Socket | undefined {
  const stream = (connection as { stream?: Socket }).stream;
  return stream?.writable === true ? stream : undefined;
}

/**
 * One execution through node-postgres's Submittable interface, written as a single socket write
 * of pre-encoded messages. The first use on a connection closes any stale statement of that name,
 * parses it and asks for its row description; later uses send only Bind, Execute and Sync (no
 * Describe, unlike pg's Query and libpq), and decode rows with the described columns and the
 * client's type parsers as they were then. If the statement's result type changes, PostgreSQL
 * refuses to run it (0A000) and the next use prepares it again.
 */
class PreparedRead<Row> implements Submittable {
  callback: ((error: Error | null, rows?: Row[]) => void) | undefined;
  /** Whether submit found the statement described, so a failure may be a forgotten statement. */
  wasCached = false;
  private readonly rows: Row[] = [];
  private readonly cache: Map<string, Described>;
  private described: Described | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly client: Client,
    private readonly statement: PreparedStatement,
    private readonly values: readonly PreparedValue[],
  ) {
    this.cache = cacheOf(client);
  }

  submit(connection: object): Error | undefined {
    const socket = socketOf(connection);
    if (socket === undefined) return new Error('Connection terminated');
    const { name, text } = this.statement;
    const known = this.cache.get(name);
    this.described = known?.text === text ? known : undefined;
    this.wasCached = this.described !== undefined;
    const { serialize, executeAndSync } = loadProtocol();
    const bind = serialize.bind({ statement: name, values: this.values.map(toText) });
    socket.write(
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
    const names = message.fields.map((f) => f.name);
    if (names.includes('__proto__')) {
      this.failure ??= new Error(`prepared statement ${this.statement.name}: a column may not be named __proto__`);
      return;
    }
    this.described = {
      text: this.statement.text,
      names,
      parsers: message.fields.map((f) => this.client.getTypeParser(f.dataTypeID, 'text') as TypeParser),
    };
  }

  // Called from the socket's data handler: a throw here would lose the rest of the reply and
  // leave the client waiting forever, so every failure is kept for ReadyForQuery instead.
  handleDataRow(message: { fields: (string | null)[] }): void {
    const described = this.described;
    if (this.failure !== undefined) return;
    if (described === undefined) {
      this.failure = new Error(`prepared statement ${this.statement.name} returned rows it did not describe`);
      return;
    }
    const row: Record<string, unknown> = {};
    const { fields } = message;
    try {
      for (let i = 0; i < fields.length; i += 1) {
        const value = fields[i];
        row[described.names[i] ?? `?column${i}?`] = value === null || value === undefined ? null : described.parsers[i]?.(value);
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      return;
    }
    this.rows.push(row as Row);
  }

  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  /** COPY is not a read: refuse its input, ignore its output, fail at ReadyForQuery. */
  handleCopyInResponse(connection: { sendCopyFail(message: string): void }): void {
    connection.sendCopyFail('COPY is not supported by queryPrepared');
  }

  handleCopyData(): void {
    this.failure ??= new Error(`prepared statement ${this.statement.name}: COPY is not supported by queryPrepared`);
  }

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

type Outcome<Row> = { rows: Row[] } | { error: Error; forgotten: boolean };

// The server no longer has the statement we cached (DEALLOCATE, DISCARD ALL), or its result
// type changed under it: the failed read cleared the cache, so a retry prepares it afresh.
const forgottenCodes = new Set<unknown>(['26000', '0A000']);

function submitRead<Row>(client: Client, statement: PreparedStatement, values: readonly PreparedValue[]): Promise<Outcome<Row>> {
  return new Promise<Outcome<Row>>((resolve) => {
    const read = new PreparedRead<Row>(client, statement, values);
    read.callback = (error, rows) =>
      resolve(
        error === null
          ? { rows: rows ?? [] }
          : { error, forgotten: read.wasCached && forgottenCodes.has((error as { code?: unknown }).code) },
      );
    client.query(read);
  });
}

/**
 * The rows of a prepared read on a node-postgres client (or a pooled connection, which is one).
 * Values are sent as text; columns are decoded with the client's type parsers. A statement the
 * server forgot is prepared again and the read retried once, unless a transaction was open (the
 * error has aborted it, so a retry could not succeed).
 */
export async function queryPrepared<Row>(
  client: Client,
  statement: PreparedStatement,
  values: readonly PreparedValue[],
): Promise<Row[]> {
  let outcome = await submitRead<Row>(client, statement, values);
  if ('error' in outcome && outcome.forgotten && client.getTransactionStatus() === 'I') {
    outcome = await submitRead<Row>(client, statement, values);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.rows;
}

/** Closes one statement on the server, and forgets it here at the moment the Close is sent. */
class ForgetStatement implements Submittable {
  callback: ((error: Error | null) => void) | undefined;

  constructor(
    private readonly cache: Map<string, Described>,
    // Not `name`: pg's Client treats a query's `name` as one of its own prepared statements.
    private readonly statementName: string,
  ) {}

  submit(connection: object): Error | undefined {
    const socket = socketOf(connection);
    if (socket === undefined) return new Error('Connection terminated');
    // Reads queued before this one have run; reads queued after it will prepare afresh.
    this.cache.delete(this.statementName);
    const { serialize, sync } = loadProtocol();
    socket.write(Buffer.concat([serialize.close({ type: 'S', name: this.statementName }), sync]));
    return undefined;
  }

  handleError(error: Error): void {
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    this.callback?.(null);
  }
}

/**
 * Closes the statements queryPrepared prepared on this client, so the next use prepares them
 * afresh. PostgreSQL keeps a prepared statement's plan-cost history across invalidations: after
 * a DROP INDEX that was rolled back, the track read stayed on re-planned custom plans (0.85 ms a
 * lookup instead of 0.2 ms) for as long as the session lived. The benchmark's experiments call
 * this around every arm that changes the schema.
 */
export async function forgetPreparedStatements(client: Client): Promise<void> {
  const cache = describedBy.get(client);
  if (cache === undefined) return;
  for (const name of [...cache.keys()]) {
    await new Promise<void>((resolve, reject) => {
      const forget = new ForgetStatement(cache, name);
      forget.callback = (error) => (error === null ? resolve() : reject(error));
      client.query(forget);
    });
  }
}
