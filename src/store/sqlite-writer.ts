/**
 * Batched SQLite writes on a worker thread, for a file-backed store: the
 * audit trail's rows (one per MCP message) are inserted by a second
 * connection to the same database, off the event loop. The request path then
 * pays for handing a batch over (a structured clone of its values) instead of
 * binding and stepping every row itself, and WAL checkpoints triggered by
 * those commits run there too.
 *
 * - One worker per store, started on the first write and unref'd while idle
 *   (a pending write keeps the process alive; an idle writer never does).
 * - Batches are written in the order they are handed over, each in one
 *   transaction; `write` resolves once that transaction has committed, so a
 *   read on the main connection afterwards sees the rows (WAL).
 * - A batch that fails (a constraint, SQLITE_BUSY past busy_timeout, a full
 *   disk) rejects its own promise; later batches are unaffected. If the worker
 *   itself dies, every pending batch is rejected and the next write starts a
 *   new one.
 *   (A batch pending when its worker died may or may not have committed.)
 * - `close` waits for pending batches, then asks the worker to close its
 *   connection and exit; later writes are refused. The worker is never
 *   `terminate()`d: terminating a thread inside a better-sqlite3 call that
 *   then throws (SQLITE_BUSY) aborts the whole process.
 *
 * `:memory:` databases cannot be shared between connections; they keep
 * writing on the main thread (see AuditStore.insertMany).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** A bound value SQLite accepts. */
export type SqlValue = string | number | bigint | null;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

type Reply = { seq: number; ok: true } | { seq: number; ok: false; message: string; code: string | undefined };

/**
 * The worker (CommonJS, run with `eval`: no separate file to resolve from
 * src/ under test and dist/ when built). It prepares each distinct statement
 * once and runs a batch inside one transaction.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('synchronous = NORMAL');
const statements = new Map();
const run = db.transaction((stmt, rows) => {
  for (const r of rows) stmt.run(...r);
});
parentPort.on('message', (m) => {
  if (m === null) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    let stmt = statements.get(m.sql);
    if (!stmt) statements.set(m.sql, (stmt = db.prepare(m.sql)));
    run(stmt, m.rows);
    parentPort.postMessage({ seq: m.seq, ok: true });
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, ok: false, message: String((e && e.message) || e), code: e && typeof e.code === 'string' ? e.code : undefined });
  }
});
`;

/** A failed off-thread write: SQLite's message and code (e.g. SQLITE_CONSTRAINT_PRIMARYKEY). */
export class SqliteWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SqliteWriteError';
  }
}

const NOOP = () => {};

export class SqliteWriter {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;
  private drained: Promise<void> = Promise.resolve();
  /** Rows committed by the worker so far. */
  rowsWritten = 0;
  /** Workers started so far (1 unless one died). */
  workersStarted = 0;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs = 5000,
  ) {}

  /** Insert `rows` (each bound positionally to `sql`) in one transaction on the worker. */
  write(sql: string, rows: SqlValue[][]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the SQLite writer is closed'));
    if (rows.length === 0) return Promise.resolve();
    const w = this.worker ?? this.start();
    const seq = ++this.seq;
    const done = new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) w.ref();
      this.pending.set(seq, {
        resolve: () => {
          this.rowsWritten += rows.length;
          resolve();
        },
        reject,
      });
      w.postMessage({ seq, sql, rows });
    });
    // Batches settle in order: the last one handed over settling means all have.
    this.drained = done.then(NOOP, NOOP);
    return done;
  }

  /** Wait for pending batches, then end the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drained;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage(null);
    await exited;
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.path, busyTimeoutMs: this.busyTimeoutMs } });
    this.workersStarted++;
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve();
      else p.reject(new SqliteWriteError(m.message, m.code));
    });
    const died = (e: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`the SQLite writer thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}
