/**
 * Main-thread side of the audit writer thread (src/store/audit-worker.ts):
 * posts batches of row values (arrays: the cheapest shape to clone) and
 * settles each batch's promise when the thread has committed it. Replies come
 * in posting order, so the pending promises are a FIFO.
 *
 * If the thread dies, every pending batch is rejected with the reason and the
 * writer reports `alive === false`; the store then writes on the main thread.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { type AuditValues, type AuditWorkerData, type AuditWorkerReply, type AuditWorkerRequest } from './audit-columns.js';

/** The worker's own busy timeout: it may wait for the main connection's writes (retention deletes) without stalling any request. */
const WORKER_BUSY_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;

/** The built worker script. Running from the TypeScript sources (as the tests do), the build's copy: `npm test` builds first. */
function workerFile(): URL {
  const own = import.meta.url;
  return own.endsWith('.ts') ? new URL('../../dist/store/audit-worker.js', own) : new URL('./audit-worker.js', own);
}

export class AuditWriterThread {
  private readonly worker: Worker;
  private readonly waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;
  /** The latest batch posted (settled or not). */
  private last: Promise<void> = Promise.resolve();

  constructor(path: string) {
    const data: AuditWorkerData = { path, busyTimeoutMs: WORKER_BUSY_TIMEOUT_MS };
    this.worker = new Worker(workerFile(), { workerData: data });
    // Idle, the thread never keeps the process alive; while batches are pending it does.
    this.worker.unref();
    this.worker.on('message', (m: AuditWorkerReply) => {
      const w = this.waiting.shift();
      if (this.waiting.length === 0) this.worker.unref();
      if (!w) return;
      if (m === null) w.resolve();
      else w.reject(Object.assign(new Error(`audit writer thread: ${m.message}`), m.code ? { code: m.code } : {}));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`audit writer thread exited (code ${code})`)));
  }

  /** False once the thread has failed or is closing: write elsewhere. */
  get alive(): boolean {
    return this.failure === null && this.closing === null;
  }

  /** Commit these rows in one transaction on the thread. */
  insert(rows: AuditValues[]): Promise<void> {
    if (!this.alive) return Promise.reject(this.failure ?? new Error('audit writer thread is closed'));
    const p = new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.waiting.length === 1) this.worker.ref();
      this.worker.postMessage(rows satisfies AuditWorkerRequest);
    });
    this.last = p;
    return p;
  }

  /** Let pending batches commit, then close the thread's connection and end it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.last.catch(() => {});
      if (this.failure) return;
      const exited = once(this.worker, 'exit');
      this.worker.postMessage('close' satisfies AuditWorkerRequest);
      const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.closing;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }
}
