/**
 * The audit writer thread (SQLite file stores). It owns a second connection to
 * the database file and commits each batch it is sent in one transaction, so
 * the gateway's event loop never waits on SQLite for audit rows. Replies go
 * back in the order the batches came: null once committed, or the error.
 *
 * WAL mode (set by the main connection, persistent in the file) lets the main
 * thread read while this thread writes; writes of both wait on each other for
 * at most their busy timeout.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { SQLITE_AUDIT_INSERT, type AuditValues, type AuditWorkerData, type AuditWorkerReply, type AuditWorkerRequest } from './audit-columns.js';

const port = parentPort;
if (!port) throw new Error('audit-worker runs as a worker thread');
const data = workerData as AuditWorkerData;

let insert: ((rows: AuditValues[]) => void) | null = null;
let db: BetterSqlite3.Database | null = null;
let startError: AuditWorkerReply = null;
try {
  db = new BetterSqlite3(data.path, { fileMustExist: true });
  db.pragma(`busy_timeout = ${Math.floor(data.busyTimeoutMs)}`);
  db.pragma('synchronous = NORMAL');
  const stmt = db.prepare(SQLITE_AUDIT_INSERT);
  insert = db.transaction((rows: AuditValues[]) => {
    for (const r of rows) stmt.run(r);
  });
} catch (e) {
  startError = describe(e);
}

function describe(e: unknown): { message: string; code?: string } {
  const err = e as { message?: unknown; code?: unknown };
  return { message: String(err?.message ?? e), ...(typeof err?.code === 'string' ? { code: err.code } : {}) };
}

port.on('message', (m: AuditWorkerRequest) => {
  if (m === 'close') {
    db?.close();
    db = null;
    port.close();
    return;
  }
  let reply: AuditWorkerReply = startError;
  if (insert) {
    try {
      insert(m);
    } catch (e) {
      reply = describe(e);
    }
  }
  port.postMessage(reply);
});
