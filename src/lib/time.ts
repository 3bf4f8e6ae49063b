/** The one clock the gateway reads; tests freeze it with `setClock`. */
let nowFn: () => number = Date.now;
export const now = (): number => nowFn();
let isoMs = NaN;
let isoStr = '';
/** The clock as ISO-8601; formatted once per millisecond (audit stamps every request with it). */
export const nowIso = (): string => {
  const t = nowFn();
  if (t !== isoMs) {
    isoMs = t;
    isoStr = new Date(t).toISOString();
  }
  return isoStr;
};
export function setClock(fn: (() => number) | null): void {
  nowFn = fn ?? Date.now;
}
