/** The one clock the gateway reads; tests freeze it with `setClock`. */
let nowFn: () => number = Date.now;
export const now = (): number => nowFn();
export const nowIso = (): string => new Date(nowFn()).toISOString();
export function setClock(fn: (() => number) | null): void {
  nowFn = fn ?? Date.now;
}
