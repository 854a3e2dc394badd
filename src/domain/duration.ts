// Durations are written like `90s`, `30m`, `2h`, `1h30m`, `7d` or `2w`.
import { invalid, type Result, ok } from './result.js';

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const PART = /(\d+)([smhdw])/gy;

export function parseDuration(text: string): Result<number> {
  const s = String(text).trim();
  if (!/^(\d+[smhdw])+$/.test(s)) {
    return invalid(`"${text}" is not a duration; write it like 30m, 2h, 1h30m or 7d`);
  }
  let seconds = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) seconds += Number(m[1]) * UNIT[m[2]!]!;
  if (seconds <= 0) return invalid(`duration "${text}" must be longer than zero`);
  if (seconds > 366 * 86400) return invalid(`duration "${text}" is longer than a year`);
  return ok(seconds);
}

export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('');
}
