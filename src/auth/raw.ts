/** Small helpers shared by the parsers of the auth, permissions and namespaces config. */

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Throws when `obj` has a field not in `known` (a typo must not silently drop a rule). */
export function rejectUnknownKeys(
  obj: Record<string, unknown>,
  known: readonly string[],
  at: string,
  fail: (why: string) => Error,
): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) throw fail(`${at}: unknown field "${clip(k)}" (known: ${known.join(", ")})`);
  }
}

/** A caller-supplied string made safe and short enough to quote in an error message. */
export function clip(s: string): string {
  const shown = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return shown.replace(/[^\x20-\x7e]/g, "?");
}
