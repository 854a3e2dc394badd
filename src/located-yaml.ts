// YAML files whose problems name file:line:col: the config, the policy file,
// the on-call schedule and policy test files all report errors this way.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

export class YamlError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'YamlError';
  }
}

/** A parsed YAML file that can tell where a path in it is (file:line:col). */
export interface LocatedYaml {
  file: string;
  raw: unknown;
  at(path: (string | number)[]): string;
  atKey(path: (string | number)[], key: string): string;
}

export function parseYamlFile(text: string, file: string): LocatedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return `${file}`;
    const p = lc.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new YamlError(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`));
  }
  return {
    file,
    raw: doc.toJS() ?? {},
    at: (path) => where(nodeOffset(doc, path)),
    atKey: (path, key) => where(keyOffset(doc, path, key) ?? nodeOffset(doc, [...path, key])),
  };
}

/** Offset of the key `key` in the map at `path`. */
function keyOffset(doc: Document, path: (string | number)[], key: string): number | undefined {
  const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  return pair && isScalar(pair.key) ? pair.key.range?.[0] : undefined;
}

/** Offset of the node at `path`, or of its closest existing parent. */
function nodeOffset(doc: Document, path: (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return node.range[0];
  }
  return undefined;
}


/** Schema problems of a located file, each at its file:line:col (misspelt keys at the key). */
export function zodProblems(doc: LocatedYaml, error: z.ZodError, locate?: (path: (string | number)[]) => { doc: LocatedYaml; path: (string | number)[] }): string[] {
  const where = locate ?? ((path: (string | number)[]) => ({ doc, path }));
  return error.issues.map((i) => {
    const { doc: d, path } = where(i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)));
    if (i.code === 'unrecognized_keys') {
      // Point at the misspelt key itself, not at the map holding it.
      return i.keys.map((k) => `${d.atKey(path, k)}: ${[...path, k].join('.')}: unknown key "${k}" (remove it or fix its spelling)`).join('\n  ');
    }
    const message = /received undefined$/.test(i.message) ? 'is required' : i.message;
    return `${d.at(path)}: ${path.join('.') || '(top level)'}: ${message}`;
  });
}
