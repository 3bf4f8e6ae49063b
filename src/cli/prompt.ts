/**
 * Questions on the terminal: answers on stdin, questions on stderr (stdout
 * stays for the command's output). On a terminal a secret is read without
 * echo (raw mode); from a pipe (scripts, tests) each answer is one line.
 */
import { createInterface, type Interface } from 'node:readline';
import { CliError, EXIT } from './exit.js';

export class Prompter {
  private rl: Interface | null = null;
  private lines: AsyncIterator<string> | null = null;

  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {}

  private get tty(): boolean {
    return !!this.input.isTTY && typeof this.input.setRawMode === 'function';
  }

  async ask(question: string): Promise<string> {
    this.out.write(question);
    return this.line();
  }

  /** Read a secret; on a terminal nothing is echoed. */
  async secret(question: string): Promise<string> {
    this.out.write(question);
    return this.tty ? this.hidden() : this.line();
  }

  close(): void {
    this.rl?.close();
    this.rl = null;
    this.lines = null;
  }

  private async line(): Promise<string> {
    if (!this.lines) {
      // One reader for the whole dialogue: lines already buffered from a pipe are not lost between questions.
      this.rl = createInterface({ input: this.input, terminal: false, crlfDelay: Infinity });
      this.lines = this.rl[Symbol.asyncIterator]();
    }
    const r = await this.lines.next();
    if (r.done) throw new CliError('no answer on standard input', EXIT.invalidInput, 'invalid_input');
    const answer = r.value.trim();
    // On a terminal, let raw-mode reads (secret) take over the stream again.
    if (this.tty) this.close();
    return answer;
  }

  private hidden(): Promise<string> {
    const stdin = this.input;
    return new Promise((resolve, reject) => {
      let buf = '';
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        this.out.write('\n');
      };
      const onData = (chunk: Buffer | string) => {
        for (const ch of String(chunk)) {
          if (ch === '\r' || ch === '\n') {
            done();
            resolve(buf);
            return;
          }
          if (ch === '\u0003' || ch === '\u0004') {
            done();
            reject(new CliError('cancelled', EXIT.failure, 'cancelled'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
          else if (ch >= ' ') buf += ch;
        }
      };
      stdin.setRawMode(true);
      stdin.setEncoding('utf8');
      stdin.on('data', onData);
      stdin.resume();
    });
  }
}
