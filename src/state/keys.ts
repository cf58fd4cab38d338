/**
 * State key rules. A key is an allow-listed string: it starts with a letter or digit and holds
 * only letters, digits and `. _ : @ / -`, with no `..` segment and no `||` (Dapr's separator
 * between app id and key). Keys are stored as `<service>||<key>`; neither service names nor keys
 * can contain `|`, so the encoding is injective.
 */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/;
export const KEY_SEPARATOR = "||";

export function keyProblem(key: string, maxKeyBytes: number): string | undefined {
  if (key.length === 0) return "key is empty";
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > maxKeyBytes) return `key is ${bytes} bytes long; the limit is ${maxKeyBytes}`;
  if (key.includes(KEY_SEPARATOR)) return `key must not contain "${KEY_SEPARATOR}"`;
  if (!KEY_PATTERN.test(key)) {
    return `key "${printable(key)}" must start with a letter or digit and hold only letters, digits and . _ : @ / -`;
  }
  if (key.includes("..")) return `key "${key}" must not contain ".."`;
  return undefined;
}

/** The key under which a service's value is stored in the backend. */
export function storeKey(service: string, key: string): string {
  return `${service}${KEY_SEPARATOR}${key}`;
}

/** Escapes control and non-ASCII characters so a bad key can be quoted in an error message. */
function printable(s: string): string {
  const shown = s.length > 64 ? `${s.slice(0, 64)}...` : s;
  return shown.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`);
}
