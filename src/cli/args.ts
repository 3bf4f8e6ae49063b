/** Argument helpers every command shares (kept light: no config, store or services). */

/** `a,b, c` → ['a','b','c']; '' → []. */
export const commaList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * A list option: comma-separated, repeatable (`--groups a,b --groups c`), `''` for none.
 * Every list option of every command takes this form.
 */
export const listOption = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), ...commaList(value)];

/** Read all of standard input (for --password-stdin), without its final newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
