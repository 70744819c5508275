// Copies of copies (`source: { target }`): a job copying what target X holds into target Y is an
// edge X → Y. A chain must end; a cycle (X into Y into X) would count copies of themselves.
// Used at the agent's config load and by the collector, across agents. Pure.

export interface CopyEdge<T = unknown> {
  from: string;
  to: string;
  /** What the edge is (a config path, a job): handed back with the edge closing the cycle. */
  what: T;
}

/** The first cycle among the edges, as its path (its first node repeated at the end) and the edge closing it; null when none. */
export function findCopyCycle<T>(edges: readonly CopyEdge<T>[]): { path: string[]; closing: CopyEdge<T>; edges: CopyEdge<T>[] } | null {
  const out = new Map<string, CopyEdge<T>[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);
  const done = new Set<string>();
  const walk = (node: string, path: string[], via: CopyEdge<T>[]): ReturnType<typeof findCopyCycle<T>> => {
    for (const e of out.get(node) ?? []) {
      const i = path.indexOf(e.to);
      if (i >= 0) return { path: [...path.slice(i), e.to], closing: e, edges: [...via.slice(i), e] };
      if (done.has(e.to)) continue;
      const found = walk(e.to, [...path, e.to], [...via, e]);
      if (found) return found;
    }
    done.add(node);
    return null;
  };
  for (const e of edges) {
    if (done.has(e.from)) continue;
    const found = walk(e.from, [e.from], []);
    if (found) return found;
  }
  return null;
}
