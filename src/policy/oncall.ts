// On-call schedules: who is on call in each rotation at a given time. The
// schedule is a YAML file of shifts (kept by hand or exported from a paging
// tool); the policy names rotations in CEL (`oncall`) and in approval stages.
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type ReadFile, readText } from './policy-file.js';

export interface Shift {
  user: string;
  from: Date;
  to: Date;
}

export type Schedule = Map<string, Shift[]>;

const fileSchema = z.strictObject({
  rotations: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use lower-case letters, digits, "-" and "_"'),
    z.strictObject({ shifts: z.array(z.strictObject({ user: z.string().min(1), from: z.string(), to: z.string() })) }),
  ),
});

/** Load and check a schedule; problems name file:line. */
export function loadSchedule(file: string, knownUser: (name: string) => boolean, read: ReadFile = readText): { schedule: Schedule } | { problems: string[] } {
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    return { problems: [`${file}: cannot read the on-call schedule (${(e as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  if (doc.errors.length) return { problems: doc.errors.map((e) => `${file}:${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`) };
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) return { problems: parsed.error.issues.map((i) => `${file}: ${i.path.join('.')}: ${i.message}`) };
  const problems: string[] = [];
  const schedule: Schedule = new Map();
  for (const [name, r] of Object.entries(parsed.data.rotations)) {
    const shifts: Shift[] = [];
    r.shifts.forEach((s, i) => {
      const node = doc.getIn(['rotations', name, 'shifts', i], true) as { range?: [number, number, number] } | undefined;
      const at = `${file}:${node?.range ? lc.linePos(node.range[0]).line : 0}`;
      const from = new Date(s.from);
      const to = new Date(s.to);
      if (!knownUser(s.user)) problems.push(`${at}: unknown user "${s.user}"`);
      if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) problems.push(`${at}: from and to are ISO 8601 times, e.g. 2026-11-23T09:00:00Z`);
      else if (from >= to) problems.push(`${at}: a shift ends after it starts`);
      shifts.push({ user: s.user, from, to });
    });
    schedule.set(name, shifts);
  }
  return problems.length ? { problems } : { schedule };
}

/** Who is on call in each rotation at `at` (shifts are [from, to)). */
export function onCallAt(schedule: Schedule, at: Date): Record<string, string[]> {
  const t = at.getTime();
  const out: Record<string, string[]> = {};
  for (const [name, shifts] of schedule) {
    out[name] = [...new Set(shifts.filter((s) => s.from.getTime() <= t && t < s.to.getTime()).map((s) => s.user))].sort();
  }
  return out;
}

/** Who is on call in a rotation at `at`, as a lookup. */
export function onCallLookup(schedule: Schedule, at: Date): (rotation: string) => string[] {
  const now = onCallAt(schedule, at);
  return (rotation) => now[rotation] ?? [];
}
