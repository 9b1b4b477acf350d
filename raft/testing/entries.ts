// Test helpers for raft log entries: build one, and print a list compactly as "term/index".

import type { Entry } from '../types.js';

export const ent = (index: number, term: number, size = 0): Entry => ({
  index,
  term,
  type: 'normal',
  data: new Uint8Array(size),
});

export const ids = (es: readonly Entry[]): string[] => es.map((e) => `${e.term}/${e.index}`);
