// A scriptable environment of raft nodes for data-driven transcripts (raft/testdata/*.txt).
// Every command drives RawNodes by hand and prints what happened, so a transcript pins down
// raft's exact behaviour: Readies, messages, logs and states, step by step.

import { decodeConfChange, describeConfChange, parseConfChanges } from '../confchange-codec.js';
import { isRaftError } from '../errors.js';
import { RawNode } from '../rawnode.js';
import type { ReadOnlyOption } from '../readonly.js';
import { MemoryStorage } from '../storage.js';
import type { ConfChangeTransition, ConfState, Entry, Message, NodeId, Ready } from '../types.js';
import { EMPTY_BYTES } from '../types.js';

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly kv: ReadonlyMap<string, string>;
  readonly line: number;
}

interface EnvNode {
  raw: RawNode;
  readonly storage: MemoryStorage;
  confState: ConfState;
  readonly options: NodeOptions;
}

interface NodeOptions {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxMsgBytes: number;
  readonly maxInflight: number;
  readonly readOnly: ReadOnlyOption;
}

const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 1;
/** Bound on stabilize rounds: a transcript that does not settle is a bug. */
const MAX_STABILIZE_ROUNDS = 200;

const text = new TextDecoder();
const enc = new TextEncoder();

export function describeEntry(e: Entry): string {
  if (e.type === 'confChange') {
    const cc = decodeConfChange(e.data);
    // An empty change leaves a joint config (whatever its transition).
    return `${e.term}/${e.index} conf ${cc.changes.length === 0 ? 'leave-joint' : describeConfChange(cc)}`;
  }
  return `${e.term}/${e.index} normal ${JSON.stringify(text.decode(e.data))}`;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  if (m.type === 'app' || m.type === 'vote' || m.type === 'preVote') s += ` Log:${m.logTerm}/${m.index}`;
  if (m.type === 'appResp' || m.type === 'readIndexResp') s += ` Index:${m.index}`;
  if (m.commit > 0 || m.type === 'app' || m.type === 'heartbeat') s += ` Commit:${m.commit}`;
  if (m.reject)
    s += ` Rejected (Hint: ${m.rejectHint}${m.logTerm > 0 && m.type === 'appResp' ? ` LogTerm: ${m.logTerm}` : ''})`;
  if (m.context.length > 0) s += ` Context:${JSON.stringify(text.decode(m.context))}`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(describeEntry).join(', ')}]`;
  if (m.snapshot !== null) {
    const md = m.snapshot.metadata;
    s += ` Snapshot: Index:${md.index} Term:${md.term} Voters:(${md.confState.voters.join(' ')})`;
  }
  return s;
}

function parseIdList(v: string | undefined): NodeId[] {
  if (v === undefined) return [];
  const inner = v.replace(/^\(/, '').replace(/\)$/, '').trim();
  if (inner === '') return [];
  return inner.split(/[ ,]+/).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`bad id ${x}`);
    return n;
  });
}

export class InteractionEnv {
  readonly nodes = new Map<NodeId, EnvNode>();
  /** Messages sent and not yet delivered, by recipient. */
  readonly mailbox = new Map<NodeId, Message[]>();
  /** Ids whose messages are dropped in both directions. */
  readonly isolated = new Set<NodeId>();
  private out: string[] = [];

  private print(line: string): void {
    this.out.push(line);
  }

  run(cmd: Command): string {
    this.out = [];
    try {
      this.dispatch(cmd);
    } catch (err) {
      this.print(`error: ${err instanceof Error ? err.message : String(err)}`);
    }
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  private node(idText: string | undefined): EnvNode {
    const id = Number(idText);
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${idText}`);
    return n;
  }

  private ids(args: readonly string[]): NodeId[] {
    if (args.length === 0) return [...this.nodes.keys()].sort((a, b) => a - b);
    return args.map((a) => this.node(a).raw.id);
  }

  private dispatch(c: Command): void {
    switch (c.name) {
      case 'add-nodes':
        return this.addNodes(c);
      case 'campaign':
        this.node(c.args[0]).raw.campaign();
        return;
      case 'propose':
        return this.guardDropped(() => this.node(c.args[0]).raw.propose(enc.encode(c.args[1] ?? '')));
      case 'propose-conf-change': {
        const transition = (c.kv.get('transition') ?? 'auto') as ConfChangeTransition;
        const changes = parseConfChanges(c.args.slice(1).join(' '));
        return this.guardDropped(() =>
          this.node(c.args[0]).raw.proposeConfChange({ transition, changes, context: EMPTY_BYTES }),
        );
      }
      case 'tick-heartbeat':
        for (let i = 0; i < HEARTBEAT_TICKS; i++) this.node(c.args[0]).raw.tick();
        return;
      case 'tick-election':
        for (let i = 0; i < ELECTION_TICKS; i++) this.node(c.args[0]).raw.tick();
        return;
      case 'process-ready':
        for (const id of this.ids(c.args)) this.processReady(id);
        return;
      case 'deliver-msgs':
        for (const id of this.ids(c.args)) this.deliver(id, c.kv.has('drop'));
        return;
      case 'stabilize':
        return this.stabilize(this.ids(c.args));
      case 'raft-state':
        for (const [id, n] of [...this.nodes].sort(([a], [b]) => a - b)) {
          const r = n.raw.raft;
          const kind =
            n.confState.voters.includes(id) || n.confState.votersOutgoing.includes(id)
              ? 'Voter'
              : n.confState.learners.includes(id)
                ? 'Learner'
                : 'Non-Member';
          this.print(`${id}: ${r.state} (${kind}) Term:${r.term} Lead:${r.lead}`);
        }
        return;
      case 'raft-log': {
        const n = this.node(c.args[0]);
        const ents = n.raw.raft.log.allEntries();
        if (ents.length === 0)
          this.print(
            `log is empty: first index=${n.raw.raft.log.firstIndex()}, last index=${n.raw.raft.log.lastIndex()}`,
          );
        for (const e of ents) this.print(describeEntry(e));
        return;
      }
      case 'status': {
        const st = this.node(c.args[0]).raw.status();
        this.print(`${st.config}`);
        for (const [id, pr] of st.progress) this.print(`${id}: ${pr}`);
        return;
      }
      case 'read-index':
        this.node(c.args[0]).raw.readIndex(enc.encode(c.args[1] ?? ''));
        return;
      case 'transfer-leadership':
        this.node(c.kv.get('from')).raw.transferLeader(Number(c.kv.get('to')));
        return;
      case 'compact': {
        const n = this.node(c.args[0]);
        const index = Number(c.args[1]);
        n.storage.createSnapshot(index, n.confState, enc.encode(`snap@${index}`));
        n.storage.compact(index);
        this.print(`compacted ${n.raw.id} to ${index}`);
        return;
      }
      case 'restart': {
        // Crash: everything not in storage is lost, including undelivered outgoing messages.
        const n = this.node(c.args[0]);
        for (const [, box] of this.mailbox) {
          const kept = box.filter((m) => m.from !== n.raw.id);
          box.length = 0;
          box.push(...kept);
        }
        this.mailbox.set(n.raw.id, []);
        n.raw = this.newRawNode(n.raw.id, n.storage, n.options, n.storage.snapshot().metadata.index);
        n.confState = n.storage.snapshot().metadata.confState;
        return;
      }
      case 'set-log': {
        // Replaces a node's log after its snapshot with entries of the given terms, then restarts it.
        const n = this.node(c.args[0]);
        const first = n.storage.firstIndex();
        const terms = c.args.slice(1).map(Number);
        const ents: Entry[] = terms.map((t, i) => ({
          term: t,
          index: first + i,
          type: 'normal',
          data: EMPTY_BYTES,
        }));
        const fresh = new MemoryStorage();
        fresh.applySnapshot(n.storage.snapshot());
        fresh.append(ents);
        const term = Number(c.kv.get('term') ?? Math.max(0, ...terms));
        fresh.setHardState({ term, vote: 0, commit: Number(c.kv.get('commit') ?? first - 1) });
        const replaced: EnvNode = {
          ...n,
          storage: fresh,
          raw: this.newRawNode(n.raw.id, fresh, n.options, first - 1),
        };
        this.nodes.set(n.raw.id, replaced);
        return;
      }
      case 'isolate':
        this.isolated.add(this.node(c.args[0]).raw.id);
        return;
      case 'heal':
        this.isolated.clear();
        return;
      case 'report-unreachable':
        this.node(c.args[0]).raw.reportUnreachable(Number(c.args[1]));
        return;
      default:
        throw new Error(`unknown command ${c.name}`);
    }
  }

  private guardDropped(f: () => void): void {
    try {
      f();
    } catch (err) {
      if (isRaftError(err, 'PROPOSAL_DROPPED')) {
        this.print(`dropped: ${(err as Error).message}`);
        return;
      }
      throw err;
    }
  }

  private newRawNode(id: NodeId, storage: MemoryStorage, o: NodeOptions, applied: number): RawNode {
    return new RawNode({
      id,
      storage,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      // Deterministic transcripts: the randomised timeout is exactly electionTicks.
      randomInt: () => 0,
      applied,
      preVote: o.preVote,
      checkQuorum: o.checkQuorum,
      maxSizePerMsgBytes: o.maxMsgBytes,
      maxInflightMsgs: o.maxInflight,
      readOnlyOption: o.readOnly,
    });
  }

  private addNodes(c: Command): void {
    const count = Number(c.args[0]);
    const voters = parseIdList(c.kv.get('voters'));
    const learners = parseIdList(c.kv.get('learners'));
    const index = Number(c.kv.get('index') ?? 1);
    const options: NodeOptions = {
      preVote: c.kv.has('prevote'),
      checkQuorum: c.kv.has('checkquorum'),
      maxMsgBytes: Number(c.kv.get('max-msg-bytes') ?? 1024 * 1024),
      maxInflight: Number(c.kv.get('max-inflight') ?? 256),
      readOnly: c.kv.get('read-only') === 'lease' ? 'leaseBased' : 'safe',
    };
    const base = this.nodes.size;
    for (let i = 1; i <= count; i++) {
      const id = base + i;
      const storage = new MemoryStorage();
      const confState: ConfState = {
        voters,
        votersOutgoing: [],
        learners,
        learnersNext: [],
        autoLeave: false,
      };
      storage.applySnapshot({ metadata: { index, term: 1, confState }, data: EMPTY_BYTES });
      this.nodes.set(id, { raw: this.newRawNode(id, storage, options, index), storage, confState, options });
      this.mailbox.set(id, []);
      this.print(
        `${id}: follower Term:${storage.initialState().hardState.term} ${describeConfState(confState)} log at ${index}`,
      );
    }
  }

  private processReady(id: NodeId): boolean {
    const n = this.nodes.get(id)!;
    if (!n.raw.hasReady()) return false;
    const rd = n.raw.ready();
    this.print(`> ${id} handling Ready`);
    for (const line of describeReady(rd)) this.print(`  ${line}`);
    // Persist before sending.
    if (rd.snapshot !== null) {
      n.storage.applySnapshot(rd.snapshot);
      n.confState = rd.snapshot.metadata.confState;
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== null) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.mailbox.get(m.to)?.push(m);
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') {
        n.confState = n.raw.applyConfChange(decodeConfChange(e.data));
        this.print(`  ${id} applied ${describeConfState(n.confState)}`);
      }
    }
    n.raw.advance(rd);
    return true;
  }

  private deliver(id: NodeId, drop: boolean): boolean {
    const box = this.mailbox.get(id) ?? [];
    if (box.length === 0) return false;
    const msgs = box.splice(0);
    for (const m of msgs) {
      const lost = drop || this.isolated.has(m.from) || this.isolated.has(m.to);
      this.print(`${lost ? 'dropped' : '>'} ${describeMessage(m)}`);
      if (lost) continue;
      try {
        this.nodes.get(id)!.raw.step(m);
      } catch (err) {
        if (isRaftError(err, 'PROPOSAL_DROPPED')) this.print(`  dropped: ${(err as Error).message}`);
        else if (isRaftError(err, 'STEP_PEER_NOT_FOUND')) this.print(`  ignored: peer ${m.from} not found`);
        else throw err;
      }
    }
    return true;
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      let busy = false;
      for (const id of ids) busy = this.processReady(id) || busy;
      for (const id of ids) busy = this.deliver(id, false) || busy;
      if (!busy) return;
    }
    throw new Error(`not stable after ${MAX_STABILIZE_ROUNDS} rounds`);
  }
}

export function describeConfState(cs: ConfState): string {
  let s = `voters=(${cs.voters.join(' ')})`;
  if (cs.votersOutgoing.length > 0) s += `&&(${cs.votersOutgoing.join(' ')})`;
  if (cs.learners.length > 0) s += ` learners=(${cs.learners.join(' ')})`;
  if (cs.learnersNext.length > 0) s += ` learners_next=(${cs.learnersNext.join(' ')})`;
  if (cs.autoLeave) s += ' autoleave';
  return s;
}

function describeReady(rd: Ready): string[] {
  const lines: string[] = [];
  if (rd.softState !== null) lines.push(`State: ${rd.softState.role} Lead:${rd.softState.lead}`);
  if (rd.hardState !== null)
    lines.push(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
  if (rd.entries.length > 0) {
    lines.push('Entries:');
    for (const e of rd.entries) lines.push(`  ${describeEntry(e)}`);
  }
  if (rd.snapshot !== null)
    lines.push(
      `Snapshot: Index:${rd.snapshot.metadata.index} Term:${rd.snapshot.metadata.term} ${describeConfState(rd.snapshot.metadata.confState)}`,
    );
  if (rd.committedEntries.length > 0) {
    lines.push('CommittedEntries:');
    for (const e of rd.committedEntries) lines.push(`  ${describeEntry(e)}`);
  }
  if (rd.messages.length > 0) {
    lines.push('Messages:');
    for (const m of rd.messages) lines.push(`  ${describeMessage(m)}`);
  }
  if (rd.readStates.length > 0) {
    lines.push('ReadStates:');
    for (const r of rd.readStates)
      lines.push(`  Index:${r.index} Context:${JSON.stringify(text.decode(r.requestCtx))}`);
  }
  return lines;
}

/** Parses a transcript into cases: command lines, `----`, expected output up to a blank line. */
export interface TranscriptCase {
  readonly command: Command;
  readonly commandText: string;
  readonly expected: string;
}

export function parseCommand(line: string, lineNo: number): Command {
  const tokens = line.match(/\S+=\([^)]*\)|\S+/g) ?? [];
  const [name, ...rest] = tokens;
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const t of rest) {
    const eq = t.indexOf('=');
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1));
    else if (/^[a-z-]+$/.test(t) && ['prevote', 'checkquorum', 'drop'].includes(t)) kv.set(t, '');
    else args.push(t);
  }
  if (name === undefined) throw new Error(`line ${lineNo}: empty command`);
  return { name, args, kv, line: lineNo };
}

export function parseTranscript(source: string): TranscriptCase[] {
  const lines = source.split('\n');
  const cases: TranscriptCase[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    const commandText = line;
    const command = parseCommand(line, i + 1);
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after command`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i] !== '') out.push(lines[i++]!);
    cases.push({ command, commandText, expected: out.join('\n') });
  }
  return cases;
}

export function renderTranscript(source: string, actual: readonly string[]): string {
  // Rewrites the expected sections, keeping comments and commands as written.
  const lines = source.split('\n');
  const result: string[] = [];
  let i = 0;
  let k = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      result.push(line);
      i++;
      continue;
    }
    result.push(line, '----', actual[k++] ?? '');
    i += 2;
    while (i < lines.length && lines[i] !== '') i++;
  }
  return result.join('\n');
}
