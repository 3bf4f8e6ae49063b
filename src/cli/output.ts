/**
 * Output: human text on stdout by default, JSON with --json (the same object
 * in both modes). Tables list every field of the JSON objects they show
 * (a test holds them to it); notices go to stderr so stdout stays parseable.
 */
import { type Command } from 'commander';

export const isJson = (cmd: Command): boolean => !!(cmd.optsWithGlobals() as { json?: boolean }).json;

/** Print human text or JSON (with --json). */
export function output(cmd: Command, json: unknown, human: () => string): void {
  process.stdout.write(isJson(cmd) ? JSON.stringify(json, null, 2) + '\n' : human() + '\n');
}

/** A line for the person at the terminal (stderr, also with --json). */
export function notice(text: string): void {
  process.stderr.write(`notice: ${text}\n`);
}

/** A table column: the JSON fields it shows and how. */
export interface Column<T> {
  header: string;
  fields: readonly string[];
  value(row: T): string;
}

export const col = <T>(header: string, fields: string | readonly string[], value: (row: T) => string): Column<T> => ({
  header,
  fields: typeof fields === 'string' ? [fields] : fields,
  value,
});

/** Plain-text table with padded columns; `(none)` when empty. */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  return table(
    columns.map((c) => c.header),
    rows.map((r) => columns.map((c) => c.value(r))),
  );
}

/** Small formatters for cells. */
export const cell = {
  list: (a: readonly string[] | null | undefined, none = '-') => (a && a.length ? a.join(',') : none),
  text: (s: string | null | undefined) => (s === null || s === undefined || s === '' ? '-' : s),
  yesNo: (b: boolean) => (b ? 'yes' : 'no'),
};
