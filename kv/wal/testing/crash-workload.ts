// The crash test's workload, shared by the writer child and the checking parent: the bytes an entry
// carries are a function of its index and term, and every operation is announced on stdout
// ("begin …") before it starts and acknowledged ("ack …") once it is durable.

import type { Entry } from '../../../raft/types.js';

/** Entry data: up to 300 bytes derived from (index, term), so any mix-up or garbage shows. */
export function crashEntryData(index: number, term: number): Uint8Array {
  const size = (index * 31 + term * 7) % 301;
  const data = new Uint8Array(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function crashEntries(start: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: start + i,
    term,
    type: 'normal' as const,
    data: crashEntryData(start + i, term),
  }));
}

export type CrashOp =
  | { readonly kind: 'save'; readonly start: number; readonly count: number; readonly term: number }
  | { readonly kind: 'compact'; readonly index: number };

export function formatOp(phase: 'begin' | 'ack', op: CrashOp): string {
  return op.kind === 'save'
    ? `${phase} save ${op.start} ${op.count} ${op.term}\n`
    : `${phase} compact ${op.index}\n`;
}

export function parseOp(line: string): { phase: 'begin' | 'ack'; op: CrashOp } | null {
  const [phase, kind, ...nums] = line.trim().split(' ');
  if (phase !== 'begin' && phase !== 'ack') return null;
  const n = nums.map(Number);
  if (kind === 'save' && n.length === 3)
    return { phase, op: { kind, start: n[0]!, count: n[1]!, term: n[2]! } };
  if (kind === 'compact' && n.length === 1) return { phase, op: { kind, index: n[0]! } };
  return null;
}
