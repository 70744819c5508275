import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './config-error';
import { deepFreeze } from './freeze';
import { formatPath } from './protocol';

export { ConfigError, formatProblem, type ConfigProblem } from './config-error';
export { deepFreeze } from './freeze';

/** Reads, parses and validates a YAML config file; throws ConfigError naming file, line and key. */
/** A check the schema cannot express (cross references, files on disk), run over the raw data. */
export type ExtraCheck = (data: unknown) => { path: PropertyKey[]; message: string }[];

export function loadConfigFile<S extends z.ZodType>(file: string, schema: S, extra?: ExtraCheck): Readonly<z.output<S>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read config: ${why}` }]);
  }
  return parseConfigText(text, file, schema, extra);
}

export function parseConfigText<S extends z.ZodType>(text: string, file: string, schema: S, extra?: ExtraCheck): Readonly<z.output<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const data = doc.toJS() ?? {};
  const result = schema.safeParse(data);
  // Schema issues and extra checks are merged, so one run reports every problem in the file.
  const issues: Issue[] = [...(result.success ? [] : (result.error.issues as Issue[])), ...(extra ? extra(data) : [])];
  if (issues.length > 0) {
    const seen = new Set<string>();
    const problems: ConfigProblem[] = [];
    for (const issue of expandUnknownKeys(issues)) {
      const path = issue.path as PropertyKey[];
      const key = `${formatPath(path)}\0${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const node = issue.atKey ? keyNode(doc, path) : nearestNode(doc, path);
      const pos = node?.range ? lineCounter.linePos(node.range[0]) : { line: 0, col: 0 };
      problems.push({ file, line: pos.line, column: pos.col, path: formatPath(path), message: issue.message });
    }
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(problems);
  }
  return deepFreeze(result.data as z.output<S>);
}

// zod reports unknown keys once, at their parent: give each key its own problem and line.
interface Issue {
  path: PropertyKey[];
  message: string;
  code?: string;
  keys?: string[];
  atKey?: boolean;
}

function expandUnknownKeys(issues: readonly Issue[]): Issue[] {
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys ? i.keys.map((k) => ({ path: [...i.path, k], message: 'unknown key', atKey: true })) : [i],
  );
}

function keyNode(doc: ReturnType<typeof parseDocument>, path: PropertyKey[]): YamlNode | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1) as unknown[], true) : doc.contents;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
    if (pair && isNode(pair.key)) return pair.key;
  }
  return nearestNode(doc, path);
}

// A missing key has no node of its own: point at the closest ancestor that exists.
function nearestNode(doc: ReturnType<typeof parseDocument>, path: PropertyKey[]): YamlNode | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node)) return node;
  }
  return undefined;
}
