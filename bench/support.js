// Wiring for the benchmark: a context like the server's, on a fixed clock.
import { parseConfig } from '../dist/config.js';
import { manualClock } from '../dist/domain/clock.js';
import { createLogger } from '../dist/logger.js';
import { makeContext } from '../dist/main.js';

export { localAdmin } from '../dist/app/context.js';

export function makeContextForBench(database, users, at) {
  const resources = Array.from({ length: 200 }, (_, i) => `  - id: git:repo-${i}`).join('\n');
  const userLines = Object.keys(users).map((u) => `  ${u}: {}`).join('\n');
  const config = parseConfig(`users:\n${userLines}\nresources:\n${resources}\n`, 'bench.yaml');
  return makeContext(database, config, manualClock(at), createLogger({ level: 'silent' }));
}
