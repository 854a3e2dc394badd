// On-call schedules: who is on call in each rotation at a given time. The
// schedule is a YAML file of shifts (kept by hand or exported from a paging
// tool); the policy names rotations in CEL (`oncall`) and in approval stages.
import { z } from 'zod';
import { type LocatedYaml, parseYamlFile, YamlError, zodProblems } from '../located-yaml.js';
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

/** Load and check a schedule; problems name file:line:col. */
export function loadSchedule(file: string, knownUser: (name: string) => boolean, read: ReadFile = readText): { schedule: Schedule } | { problems: string[] } {
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    return { problems: [`${file}: cannot read the on-call schedule (${(e as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  let doc: LocatedYaml;
  try {
    doc = parseYamlFile(text, file);
  } catch (e) {
    if (e instanceof YamlError) return { problems: e.problems };
    throw e;
  }
  const parsed = fileSchema.safeParse(doc.raw);
  if (!parsed.success) return { problems: zodProblems(doc, parsed.error) };
  const problems: string[] = [];
  const schedule: Schedule = new Map();
  for (const [name, r] of Object.entries(parsed.data.rotations)) {
    const shifts: Shift[] = [];
    r.shifts.forEach((s, i) => {
      const at = doc.at(['rotations', name, 'shifts', i]);
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
