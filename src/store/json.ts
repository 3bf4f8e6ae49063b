/** JSON columns are text on every backend. */
export const toJson = (v: unknown): string => JSON.stringify(v);
export function fromJson<T>(s: string | null | undefined, fallback: T): T {
  if (s === null || s === undefined) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}
