/** Compile a `*`-wildcard pattern (no other metacharacters) to a matcher. */
export function compileGlob(pattern: string): (value: string) => boolean {
  if (pattern === '*') return () => true;
  if (!pattern.includes('*')) return (v) => v === pattern;
  const re = new RegExp(
    '^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$',
    's',
  );
  return (v) => re.test(v);
}
