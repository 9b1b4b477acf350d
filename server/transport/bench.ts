// Loopback throughput of the peer transport, sender in the main thread and receiver in a worker
// (two cores, as two members would have). After `npm run build`:
//   node dist/server/transport/bench.js [scale]   (scale multiplies the message counts; default 1)

import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { type Entry, type Message, message } from '../../raft/index.js';
import { PeerTransport } from './transport.js';

const SENDER = 1;
const RECEIVER = 2;
const CLUSTER_TOKEN = 'bench';
/** Sender-side queue level above which the benchmark waits instead of sending (no drops). */
const HIGH_WATER_BYTES = 16 * 1024 * 1024;

type ToWorker = { kind: 'peer'; url: string } | { kind: 'expect'; count: number };
type FromWorker = { kind: 'listening'; url: string } | { kind: 'ready' } | { kind: 'done' };

interface Scenario {
  readonly name: string;
  readonly messages: number;
  /** Messages handed to send() per turn of the event loop (a raft Ready's worth). */
  readonly perTick: number;
  readonly build: (i: number) => Message;
}

function entries(count: number, bytes: number): Entry[] {
  const data = new Uint8Array(bytes).fill(0x5a);
  return Array.from({ length: count }, (_, k) => ({ term: 2, index: k + 1, type: 'normal' as const, data }));
}

function appScenario(
  name: string,
  messages: number,
  perTick: number,
  count: number,
  bytes: number,
): Scenario {
  const batch = entries(count, bytes);
  return {
    name,
    messages,
    perTick,
    build: (i) =>
      message({
        type: 'app',
        from: SENDER,
        to: RECEIVER,
        term: 2,
        logTerm: 2,
        index: i,
        commit: i,
        entries: batch,
      }),
  };
}

function receiver(): void {
  const port = parentPort!;
  let expected = 0;
  let received = 0;
  const post = (m: FromWorker) => port.postMessage(m);
  const transport = new PeerTransport({
    memberId: RECEIVER,
    clusterToken: CLUSTER_TOKEN,
    listenUrls: ['http://127.0.0.1:0'],
    logger: pino({ level: 'silent' }),
    onMessage: () => {
      if (++received === expected) post({ kind: 'done' });
    },
  });
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'peer') transport.setPeer(SENDER, [m.url]);
    else {
      expected = m.count;
      received = 0;
      post({ kind: 'ready' });
    }
  });
  transport.start().then(() => post({ kind: 'listening', url: transport.urls[0]! }));
}

class WorkerLink {
  private waiting: { kind: FromWorker['kind']; resolve: (m: FromWorker) => void } | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const w = this.waiting;
      if (w !== null && w.kind === m.kind) {
        this.waiting = null;
        w.resolve(m);
      }
    });
  }

  next(kind: FromWorker['kind'], send?: ToWorker): Promise<FromWorker> {
    const p = new Promise<FromWorker>((resolve) => (this.waiting = { kind, resolve }));
    if (send !== undefined) this.worker.postMessage(send);
    return p;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Row {
  readonly scenario: string;
  readonly messages: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  readonly entriesPerSecond: number;
  readonly wireMiBPerSecond: number;
  readonly framesPerWrite: number;
}

async function main(): Promise<void> {
  const scale = Number(process.argv[2] ?? '1');
  const worker = new Worker(new URL(import.meta.url));
  const link = new WorkerLink(worker);
  const listening = link.next('listening');
  let snapshotDone: ((ok: boolean) => void) | null = null;
  const sender = new PeerTransport({
    memberId: SENDER,
    clusterToken: CLUSTER_TOKEN,
    listenUrls: ['http://127.0.0.1:0'],
    logger: pino({ level: 'silent' }),
    onMessage: () => {},
    onSnapshotStatus: (_peer, ok) => snapshotDone?.(ok),
  });
  await sender.start();
  const { url } = (await listening) as { url: string };
  sender.setPeer(RECEIVER, [url]);
  worker.postMessage({ kind: 'peer', url: sender.urls[0]! } satisfies ToWorker);
  const stats = () => sender.stats().peers[0]!;
  while (!stats().connected) await tick();

  const scenarios: Scenario[] = [
    {
      name: 'heartbeat (no payload)',
      messages: 400_000,
      perTick: 256,
      build: (i) => message({ type: 'heartbeat', from: SENDER, to: RECEIVER, term: 2, commit: i }),
    },
    appScenario('app, 1 entry of 100 B', 300_000, 256, 1, 100),
    appScenario('app, 64 entries of 100 B', 20_000, 32, 64, 100),
    appScenario('app, 1 entry of 64 KiB', 6_000, 16, 1, 64 * 1024),
  ];
  const rows: Row[] = [];
  for (const s of scenarios) {
    const total = Math.max(1, Math.round(s.messages * scale));
    const prebuilt = Array.from({ length: s.perTick }, (_, i) => s.build(i + 1));
    await link.next('ready', { kind: 'expect', count: total });
    const done = link.next('done');
    const before = stats();
    const started = process.hrtime.bigint();
    for (let sent = 0; sent < total; ) {
      if (stats().queueBytes > HIGH_WATER_BYTES) {
        await tick();
        continue;
      }
      const n = Math.min(s.perTick, total - sent);
      sender.send(n === prebuilt.length ? prebuilt : prebuilt.slice(0, n));
      sent += n;
      await tick();
    }
    await done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = stats();
    if (after.dropped !== before.dropped) throw new Error(`${s.name}: messages were dropped`);
    const entriesPerMessage = prebuilt[0]!.entries.length;
    rows.push({
      scenario: s.name,
      messages: total,
      seconds,
      messagesPerSecond: total / seconds,
      entriesPerSecond: (total * entriesPerMessage) / seconds,
      wireMiBPerSecond: (after.bytesSent - before.bytesSent) / seconds / 1024 / 1024,
      framesPerWrite: (after.messagesSent - before.messagesSent) / (after.writes - before.writes),
    });
  }

  const snapshotBytes = 64 * 1024 * 1024;
  const snap = message({
    type: 'snap',
    from: SENDER,
    to: RECEIVER,
    term: 2,
    snapshot: {
      metadata: {
        index: 1,
        term: 1,
        confState: { voters: [1, 2], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
      },
      data: new Uint8Array(snapshotBytes).fill(0xa5),
    },
  });
  const transfers = Math.max(1, Math.round(3 * scale));
  const snapStarted = process.hrtime.bigint();
  for (let i = 0; i < transfers; i++) {
    await link.next('ready', { kind: 'expect', count: 1 });
    const acked = new Promise<boolean>((resolve) => (snapshotDone = resolve));
    const delivered = link.next('done');
    sender.send([snap]);
    if (!(await acked)) throw new Error('snapshot transfer failed');
    await delivered;
  }
  const snapSeconds = Number(process.hrtime.bigint() - snapStarted) / 1e9;
  rows.push({
    scenario: 'snapshot, 64 MiB (1 MiB chunks)',
    messages: transfers,
    seconds: snapSeconds,
    messagesPerSecond: transfers / snapSeconds,
    entriesPerSecond: 0,
    wireMiBPerSecond: (transfers * snapshotBytes) / snapSeconds / 1024 / 1024,
    framesPerWrite: 1,
  });

  await sender.stop();
  await worker.terminate();
  printTable(rows);
}

function printTable(rows: readonly Row[]): void {
  const header = ['scenario', 'messages', 'seconds', 'msgs/s', 'entries/s', 'wire MiB/s', 'frames/write'];
  const fmt = (n: number, digits = 0) =>
    n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const lines = rows.map((r) => [
    r.scenario,
    fmt(r.messages),
    fmt(r.seconds, 2),
    fmt(r.messagesPerSecond),
    r.entriesPerSecond === 0 ? '-' : fmt(r.entriesPerSecond),
    fmt(r.wireMiBPerSecond, 1),
    fmt(r.framesPerWrite, 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  process.stdout.write(
    `${row(header)}\n|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|\n`,
  );
  for (const l of lines) process.stdout.write(`${row(l)}\n`);
  process.stdout.write(
    `node ${process.version}, ${process.platform}/${process.arch}, loopback, receiver in a worker thread\n`,
  );
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
} else receiver();
