// Seeds for the generative suites: fixed by default so a failure replays exactly;
// SQUIRREL_RELIABILITY_SEED=<n> replays (or explores) another one.

export function seedFromEnv(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SQUIRREL_RELIABILITY_SEED;
  return text && /^\d+$/.test(text) ? Number(text) : fallback;
}
