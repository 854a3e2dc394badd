import { readFileSync } from 'node:fs';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A clock read from a file holding an ISO-8601 instant. Tests set the time of a
 * running server by writing the file, so expiry is tested without sleeping.
 * Enabled only by the operator-set AJAR_UNSAFE_CLOCK_FILE variable.
 */
export function fileClock(path: string): Clock {
  return {
    now() {
      const text = readFileSync(path, 'utf8').trim();
      const d = new Date(text);
      if (Number.isNaN(d.getTime())) throw new Error(`clock file ${path} does not hold an ISO-8601 time`);
      return d;
    },
  };
}

/** A clock for unit tests. */
export function manualClock(start: Date | string): Clock & { set(t: Date | string): void; advance(seconds: number): void } {
  let t = new Date(start);
  return {
    now: () => new Date(t),
    set: (v) => {
      t = new Date(v);
    },
    advance: (s) => {
      t = new Date(t.getTime() + s * 1000);
    },
  };
}

/** The system clock, or — for tests only, and said so in the log — the time in AJAR_UNSAFE_CLOCK_FILE. */
export function clockFromEnv(log?: { warn(obj: object, msg: string): void }): Clock {
  const file = process.env.AJAR_UNSAFE_CLOCK_FILE;
  if (!file) return systemClock;
  log?.warn({ file }, 'AJAR_UNSAFE_CLOCK_FILE is set: time is read from a file (for tests only)');
  return fileClock(file);
}
