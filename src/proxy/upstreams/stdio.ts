/**
 * A stdio MCP server process, spawned from the config file only: fixed
 * command, args, env (merged over the gateway's minimal child base env) and
 * cwd. Nothing from a request ever reaches spawn(). Messages are newline-
 * delimited JSON on stdin/stdout; stderr lines go to the debug log, bounded.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { type StdioServerDef } from '../../config/schema.js';
import { GatewayError } from '../../errors/index.js';
import { parseJson } from '../../lib/json.js';
import { type JsonRpcMessage } from '../jsonrpc.js';
import { MAX_REPLY_DEPTH } from '../reply-check.js';
import { LineSplitter, type ChannelLogger, type MessageChannel } from './channel.js';

/** Longest stdout line accepted (one JSON-RPC message). */
const MAX_STDOUT_LINE = 32 * 1024 * 1024;
/** Longest stderr line logged; longer lines are cut. */
const MAX_STDERR_LOG = 2_000;
/** Grace period between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 3_000;

export class StdioChannel implements MessageChannel {
  onMessage: (m: JsonRpcMessage) => void = () => {};
  onClose: (err?: Error) => void = () => {};
  /** Extra exit hooks for the owner's bookkeeping (process counts). */
  readonly onCloseHooks: (() => void)[] = [];
  private exited = false;
  private closing: Promise<void> | null = null;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly def: StdioServerDef,
    private readonly logger: ChannelLogger,
  ) {
    const out = new StringDecoder('utf8');
    const outLines = new LineSplitter(MAX_STDOUT_LINE);
    const onOutLine = (line: string, truncated: boolean) => {
      if (truncated) {
        this.logger.warn({ server: def.name, pid: child.pid }, 'stdio server wrote an over-long line; dropped');
        return;
      }
      if (!line.trim()) return;
      let m: unknown;
      try {
        m = parseJson(line, MAX_REPLY_DEPTH);
      } catch {
        this.logger.debug({ server: def.name, pid: child.pid, line: line.slice(0, MAX_STDERR_LOG) }, 'stdio server wrote a non-JSON line (or one nested too deeply)');
        return;
      }
      if (m && typeof m === 'object') {
        if (Array.isArray(m)) for (const x of m) this.onMessage(x as JsonRpcMessage);
        else this.onMessage(m as JsonRpcMessage);
      }
    };
    child.stdout.on('data', (b: Buffer) => outLines.push(out.write(b), onOutLine));
    const err = new StringDecoder('utf8');
    const errLines = new LineSplitter(64 * 1024);
    const onErrLine = (line: string) => {
      if (line) this.logger.debug({ server: def.name, pid: child.pid, stderr: line.length > MAX_STDERR_LOG ? line.slice(0, MAX_STDERR_LOG) + '…' : line }, 'stdio server stderr');
    };
    child.stderr.on('data', (b: Buffer) => errLines.push(err.write(b), onErrLine));
    child.stdin.on('error', () => {});
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        outLines.flush(onOutLine);
        errLines.flush(onErrLine);
        this.logger.debug({ server: def.name, pid: child.pid, code, signal }, 'stdio server exited');
        for (const h of this.onCloseHooks) h();
        this.onClose(this.closing ? undefined : new Error(`process exited (${signal ?? code})`));
        resolve();
      });
    });
  }

  /** Spawn and wait until the process is running (or failed to start → 502). */
  static async spawn(def: StdioServerDef, baseEnv: Readonly<Record<string, string>>, logger: ChannelLogger): Promise<StdioChannel> {
    const child = spawn(def.command, def.args, {
      env: { ...baseEnv, ...def.env },
      cwd: def.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) =>
        reject(new GatewayError('upstream_unavailable', { detail: `MCP server ${def.name} could not be started`, internal: e })),
      );
    });
    child.on('error', (e) => logger.warn({ server: def.name, err: e }, 'stdio server process error'));
    logger.debug({ server: def.name, pid: child.pid }, 'stdio server started');
    return new StdioChannel(child, def, logger);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get closed(): boolean {
    return this.exited || this.closing !== null;
  }

  /**
   * Write one message line. Lines written in the same turn of the event loop
   * (requests of many connections arrive together under load) leave in one
   * write at the end of the turn: each pipe write wakes the server process,
   * which costs more than the write itself.
   */
  async send(message: string): Promise<void> {
    if (this.closed) throw new GatewayError('upstream_unavailable', { detail: `MCP server ${this.def.name} has exited` });
    const stdin = this.child.stdin;
    if (!this.corked) {
      this.corked = true;
      stdin.cork();
      setImmediate(this.uncork);
    }
    const ok = stdin.write(message + '\n');
    if (!ok) await new Promise<void>((resolve) => stdin.once('drain', resolve));
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.child.stdin.uncork();
  };

  /** Close stdin, SIGTERM, then SIGKILL after a grace period. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    this.closing ??= (async () => {
      this.child.stdin.end();
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!this.exited) this.child.kill('SIGKILL');
      }, KILL_GRACE_MS);
      timer.unref();
      await this.exitPromise;
      clearTimeout(timer);
    })();
    return this.closing;
  }
}
