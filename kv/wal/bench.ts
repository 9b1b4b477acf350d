// Measures the raft log's media on this machine: raw fdatasync latency, then saves/s and entries/s
// of the WAL (with and without preallocation) and of LevelLog for batches of 1, 16 and 128 entries.
// Shared machines are noisy, so the cases being compared run interleaved in short slices and see
// the same background load. Run after `npm run build`:
//   node dist/kv/wal/bench.js [--slices 20] [--slice-ms 250] [--dir /path] [--json]

import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Entry } from '../../raft/types.js';
import type { RaftLog } from './durable-log.js';
import { LevelLog } from './level-log.js';
import { Wal } from './wal.js';

/** Entry payload size: a small etcd put (key, value, request framing). */
const ENTRY_DATA_BYTES = 128;
const BATCH_SIZES = [1, 16, 128] as const;
/** Bytes written before each fdatasync in the raw measurement: about one small batch. */
const FSYNC_WRITE_BYTES = 256;
/** The raw measurement's preallocated file (writes never reach its end). */
const FSYNC_FILE_BYTES = 64 * 1024 * 1024;

/** One measured thing: an operation run again and again. */
interface Subject {
  readonly name: string;
  readonly op: () => Promise<void>;
  readonly latenciesMs: number[];
  elapsedS: number;
  cpuUs: number;
}

function subject(name: string, op: () => Promise<void>): Subject {
  return { name, op, latenciesMs: [], elapsedS: 0, cpuUs: 0 };
}

/** Runs the subjects in turn, `sliceMs` each, `slices` times round. */
async function interleave(subjects: readonly Subject[], slices: number, sliceMs: number): Promise<void> {
  for (let s = 0; s < slices; s++) {
    for (const sub of subjects) {
      const cpu = process.cpuUsage();
      const start = process.hrtime.bigint();
      const end = start + BigInt(sliceMs) * 1_000_000n;
      for (let now = start; now < end; ) {
        await sub.op();
        const t = process.hrtime.bigint();
        sub.latenciesMs.push(Number(t - now) / 1e6);
        now = t;
      }
      sub.elapsedS += Number(process.hrtime.bigint() - start) / 1e9;
      const used = process.cpuUsage(cpu);
      sub.cpuUs += used.user + used.system;
    }
  }
}

interface Row {
  readonly name: string;
  readonly batch: number;
  readonly opsPerSec: number;
  readonly entriesPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerOp: number;
}

function row(sub: Subject, batch: number): Row {
  const sorted = sub.latenciesMs.slice().sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  const opsPerSec = sorted.length / sub.elapsedS;
  return {
    name: sub.name,
    batch,
    opsPerSec: Math.round(opsPerSec),
    entriesPerSec: Math.round(opsPerSec * batch),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    cpuUsPerOp: Math.round(sub.cpuUs / sorted.length),
  };
}

/** A small write and fdatasync, appending to a growing file or overwriting a preallocated one. */
async function fsyncSubject(
  dir: string,
  preallocated: boolean,
): Promise<{ sub: Subject; close: () => Promise<void> }> {
  const fh = await open(join(dir, `fsync-${preallocated ? 'preallocated' : 'append'}`), 'w+');
  if (preallocated) {
    const chunk = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < FSYNC_FILE_BYTES; at += chunk.length) await fh.write(chunk, 0, chunk.length, at);
    await fh.datasync();
  }
  const buf = Buffer.alloc(FSYNC_WRITE_BYTES, 7);
  let position = 0;
  const sub = subject(preallocated ? 'fdatasync, preallocated file' : 'fdatasync, appending', async () => {
    await fh.write(buf, 0, buf.length, position);
    position = (position + buf.length) % FSYNC_FILE_BYTES;
    await fh.datasync();
  });
  return { sub, close: () => fh.close() };
}

function saveSubject(name: string, log: RaftLog, batch: number): Subject {
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(0x5a);
  let next = 1;
  return subject(name, async () => {
    const entries: Entry[] = [];
    for (let i = 0; i < batch; i++) entries.push({ index: next + i, term: 1, type: 'normal', data });
    await log.save({ term: 1, vote: 1, commit: next - 1 }, entries, null);
    next += batch;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      slices: { type: 'string', default: '20' },
      'slice-ms': { type: 'string', default: '250' },
      dir: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const slices = Number(values.slices);
  const sliceMs = Number(values['slice-ms']);
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'netcd-wal-bench-'));
  const silent = pino({ level: 'silent' });
  const rows: Row[] = [];
  try {
    const raw = [await fsyncSubject(dir, false), await fsyncSubject(dir, true)];
    await interleave(
      raw.map((r) => r.sub),
      slices,
      sliceMs,
    );
    for (const r of raw) {
      rows.push(row(r.sub, 0));
      await r.close();
    }
    for (const batch of BATCH_SIZES) {
      const logs: [string, RaftLog][] = [
        ['wal', await Wal.open(join(dir, `wal-${batch}`), { logger: silent })],
        [
          'wal, preallocated',
          await Wal.open(join(dir, `walp-${batch}`), { logger: silent, preallocate: true }),
        ],
        ['level', await LevelLog.open(join(dir, `level-${batch}`))],
      ];
      const subs = logs.map(([name, log]) => saveSubject(name, log, batch));
      await interleave(subs, slices, sliceMs);
      for (const s of subs) rows.push(row(s, batch));
      for (const [, log] of logs) await log.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ slices, sliceMs, entryDataBytes: ENTRY_DATA_BYTES, rows }, null, 2)}\n`,
    );
    return;
  }
  const ms = (n: number): string => n.toFixed(2);
  process.stdout.write(
    '| case | entries per save | ops/s | entries/s | p50 ms | p99 ms | CPU µs/op |\n|---|---:|---:|---:|---:|---:|---:|\n',
  );
  for (const r of rows)
    process.stdout.write(
      `| ${r.name} | ${r.batch || '–'} | ${r.opsPerSec} | ${r.batch ? r.entriesPerSec : '–'} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${r.cpuUsPerOp} |\n`,
    );
}

await main();
