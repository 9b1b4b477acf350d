// Encoding of ConfChange entries in the log. JSON keeps conf entries readable in dumps; the
// codec validates shape so a corrupt entry fails loudly instead of changing membership.

import { RaftError } from './errors.js';
import type { ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType } from './types.js';

const TYPES: readonly ConfChangeType[] = ['addNode', 'removeNode', 'addLearner'];
const TRANSITIONS: readonly ConfChangeTransition[] = ['auto', 'jointImplicit', 'jointExplicit'];

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const json = JSON.stringify({
    t: cc.transition,
    c: cc.changes.map((c) => [c.type, c.nodeId]),
    x: [...cc.context],
  });
  return new TextEncoder().encode(json);
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new RaftError('CONF_CHANGE_INVALID', 'undecodable conf change');
  }
  const o = raw as { t?: unknown; c?: unknown; x?: unknown };
  if (!TRANSITIONS.includes(o.t as ConfChangeTransition) || !Array.isArray(o.c) || !Array.isArray(o.x)) {
    throw new RaftError('CONF_CHANGE_INVALID', 'malformed conf change');
  }
  const changes: ConfChangeSingle[] = o.c.map((c: unknown) => {
    if (!Array.isArray(c) || !TYPES.includes(c[0]) || typeof c[1] !== 'number') {
      throw new RaftError('CONF_CHANGE_INVALID', 'malformed conf change item');
    }
    return { type: c[0] as ConfChangeType, nodeId: c[1] };
  });
  return { transition: o.t as ConfChangeTransition, changes, context: Uint8Array.from(o.x as number[]) };
}

/** Shorthand used by tests and tools: "v2 l3 r1" = add voter 2, add learner 3, remove 1. */
export function parseConfChanges(spec: string): ConfChangeSingle[] {
  return spec
    .split(/\s+/)
    .filter((s) => s.length > 0)
    .map((tok) => {
      const id = Number(tok.slice(1));
      if (!Number.isInteger(id) || id <= 0) throw new RaftError('CONF_CHANGE_INVALID', `bad change ${tok}`);
      switch (tok[0]) {
        case 'v':
          return { type: 'addNode', nodeId: id };
        case 'l':
          return { type: 'addLearner', nodeId: id };
        case 'r':
          return { type: 'removeNode', nodeId: id };
        default:
          throw new RaftError('CONF_CHANGE_INVALID', `bad change ${tok}`);
      }
    });
}

export function describeConfChange(cc: ConfChange): string {
  const body = cc.changes
    .map((c) => `${c.type === 'addNode' ? 'v' : c.type === 'addLearner' ? 'l' : 'r'}${c.nodeId}`)
    .join(' ');
  return cc.transition === 'auto' ? body : `${body} (${cc.transition})`;
}
