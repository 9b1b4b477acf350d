// The replicated state machine on top of simulated raft: a map of registers with put, cas and
// per-client deduplication (a duplicated forwarded proposal is applied once). Apply is a pure
// function of the log, so every member that applies the same entries holds the same state.

export type Command =
  | {
      readonly op: 'put';
      readonly client: number;
      readonly seq: number;
      readonly key: string;
      readonly value: string;
    }
  | {
      readonly op: 'cas';
      readonly client: number;
      readonly seq: number;
      readonly key: string;
      readonly expect: string | null;
      readonly value: string;
    };

export interface ApplyResult {
  readonly client: number;
  readonly seq: number;
  /** For cas: whether the compare matched. Undefined for duplicates (not applied). */
  readonly swapped?: boolean;
  readonly duplicate: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: Command): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command;
}

export class RegisterMachine {
  readonly values = new Map<string, string>();
  /** Highest command sequence applied per client. */
  readonly lastSeq = new Map<number, number>();

  apply(c: Command): ApplyResult {
    const last = this.lastSeq.get(c.client) ?? 0;
    if (c.seq <= last) return { client: c.client, seq: c.seq, duplicate: true };
    this.lastSeq.set(c.client, c.seq);
    if (c.op === 'put') {
      this.values.set(c.key, c.value);
      return { client: c.client, seq: c.seq, duplicate: false };
    }
    const current = this.values.get(c.key) ?? null;
    const swapped = current === c.expect;
    if (swapped) this.values.set(c.key, c.value);
    return { client: c.client, seq: c.seq, swapped, duplicate: false };
  }

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    const sortedValues = [...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sortedSeqs = [...this.lastSeq].sort(([a], [b]) => a - b);
    return encoder.encode(JSON.stringify({ v: sortedValues, s: sortedSeqs }));
  }

  static restore(data: Uint8Array): RegisterMachine {
    const m = new RegisterMachine();
    if (data.length === 0) return m;
    const o = JSON.parse(decoder.decode(data)) as { v: [string, string][]; s: [number, number][] };
    for (const [k, v] of o.v) m.values.set(k, v);
    for (const [c, s] of o.s) m.lastSeq.set(c, s);
    return m;
  }
}
