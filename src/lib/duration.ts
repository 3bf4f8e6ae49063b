const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parse `500ms`, `60s`, `15m`, `24h`, `30d` into milliseconds; undefined when malformed. */
export function parseDuration(input: string): number | undefined {
  const m = DURATION_RE.exec(input.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2]];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?$/i;

/** Parse `4MiB`, `512KiB`, `1MB` or a plain byte count; undefined when malformed. */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? input : undefined;
  const m = SIZE_RE.exec(input.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}
