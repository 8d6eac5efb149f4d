// The text form of a node's public key (`ed25519:<base64 of the 32 raw bytes>`), as `squirrel
// node show` prints it and `peers:` takes it. Pure: config validation checks it.

export const PUBLIC_KEY_PREFIX = 'ed25519:';

/** Why a configured public key is unusable, or null. */
export function publicKeyProblem(text: string): string | null {
  if (!text.startsWith(PUBLIC_KEY_PREFIX)) return `expected ${PUBLIC_KEY_PREFIX}<base64>, as \`squirrel node show\` prints it on that node`;
  const encoded = text.slice(PUBLIC_KEY_PREFIX.length);
  const raw = Buffer.from(encoded, 'base64');
  return raw.length === 32 && raw.toString('base64') === encoded ? null : 'not a 32-byte ed25519 public key in base64';
}
