// Test scaffolding for the peer transport: members on loopback ports chosen by the kernel, logs
// captured as parsed records, received messages collected, and polling with a deadline instead
// of sleeps. Every transport made here is stopped in the test's teardown.

import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { type Logger, pino } from 'pino';
import type { Message } from '../../../raft/index.js';
import { assembleFrames, decodeBody, encodeBody, FrameDecoder } from '../frame.js';
import {
  clusterIdentity,
  HANDSHAKE_MAGIC,
  type Handshake,
  PROTOCOL_VERSION,
  type StreamKind,
} from '../handshake.js';
import type { PeerTransportOptions } from '../options.js';
import { parsePeerUrl } from '../sockets.js';
import { PeerTransport } from '../transport.js';

export const TEST_CLUSTER_ID = 0xc1;

export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface LogRecord {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface LogCapture {
  readonly logger: Logger;
  readonly records: LogRecord[];
  /** Records whose msg is `msg` (and, when given, whose fields include `fields`). */
  find(msg: string, fields?: Record<string, unknown>): LogRecord[];
}

export function captureLogs(level: pino.LevelWithSilent = 'info'): LogCapture {
  const records: LogRecord[] = [];
  const logger = pino(
    { level },
    { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) },
  );
  return {
    logger,
    records,
    find: (msg, fields = {}) =>
      records.filter((r) => r.msg === msg && Object.entries(fields).every(([k, v]) => r[k] === v)),
  };
}

/** Polls `condition` every few milliseconds until it holds; fails after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export interface TestMember {
  readonly id: number;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly unreachable: number[];
  readonly snapshotStatus: { peer: number; ok: boolean }[];
  readonly logs: LogCapture;
  /** The first listen URL, port resolved. */
  readonly url: string;
}

export type MemberOptions = Partial<Omit<PeerTransportOptions, 'memberId' | 'logger'>>;

/** Fast reconnects so tests do not wait on production backoff. */
export const TEST_TIMINGS = {
  backoffMinMs: 5,
  backoffMaxMs: 50,
  dialTimeoutMs: 1000,
  handshakeTimeoutMs: 1000,
} as const;

export async function startMember(t: Teardown, id: number, options: MemberOptions = {}): Promise<TestMember> {
  const received: Message[] = [];
  const unreachable: number[] = [];
  const snapshotStatus: { peer: number; ok: boolean }[] = [];
  const logs = captureLogs('info');
  const transport = new PeerTransport({
    memberId: id,
    clusterId: TEST_CLUSTER_ID,
    listenUrls: ['http://127.0.0.1:0'],
    onMessage: (m) => void received.push(m),
    onUnreachable: (p) => void unreachable.push(p),
    onSnapshotStatus: (peer, ok) => void snapshotStatus.push({ peer, ok }),
    ...TEST_TIMINGS,
    ...options,
    logger: logs.logger,
  });
  t.teardown(() => transport.stop());
  await transport.start();
  return { id, transport, received, unreachable, snapshotStatus, logs, url: transport.urls[0]! };
}

/** Members 1..n, each knowing all the others. */
export async function startCluster(
  t: Teardown,
  n: number,
  options: MemberOptions = {},
): Promise<TestMember[]> {
  const members: TestMember[] = [];
  for (let id = 1; id <= n; id++) members.push(await startMember(t, id, options));
  for (const a of members) for (const b of members) if (a !== b) a.transport.setPeer(b.id, [b.url]);
  return members;
}

export function peerStats(m: TestMember, peer: number) {
  const s = m.transport.stats().peers.find((p) => p.id === peer);
  if (s === undefined) throw new Error(`member ${m.id} has no peer ${peer}`);
  return s;
}

/** Deterministic bytes: `length` of them, different per `seed`. */
export function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Node's own count of live handles by kind (sockets, servers, timers). */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** A hand-driven peer socket: sends whatever frames (or bytes) a test wants, records what it gets. */
export interface RawPeer {
  readonly socket: Socket;
  readonly frames: unknown[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
  send(value: unknown): void;
  sendBytes(bytes: Uint8Array): void;
}

function rawPeer(socket: Socket): RawPeer {
  const frames: unknown[] = [];
  const decoder = new FrameDecoder(64 * 1024 * 1024);
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) frames.push(decodeBody(body));
  });
  socket.on('error', () => {});
  return {
    socket,
    frames,
    closed: new Promise((resolve) =>
      socket.once('close', () => {
        closed = true;
        resolve();
      }),
    ),
    isClosed: () => closed,
    send: (value) => void socket.write(assembleFrames([encodeBody(value)])),
    sendBytes: (bytes) => void socket.write(bytes),
  };
}

export async function rawConnect(t: Teardown, url: string): Promise<RawPeer> {
  const { host, port } = parsePeerUrl(url);
  const socket = createConnection({ host, port });
  const peer = rawPeer(socket);
  t.teardown(() => {
    socket.destroy();
    return peer.closed;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return peer;
}

/** A listener whose connections the test drives by hand. */
export async function rawListen(t: Teardown, onPeer: (peer: RawPeer) => void): Promise<string> {
  const peers: RawPeer[] = [];
  const server = createServer((socket) => {
    const peer = rawPeer(socket);
    peers.push(peer);
    onPeer(peer);
  });
  t.teardown(async () => {
    for (const p of peers) p.socket.destroy();
    await Promise.all(peers.map((p) => p.closed));
    await new Promise((resolve) => server.close(resolve));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address() as AddressInfo;
  return `http://127.0.0.1:${address.port}`;
}

/** A loopback URL nobody listens on (a port just released). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** The handshake a member of the test cluster would send. */
export function handshakeFrame(
  from: number,
  to: number,
  kind: StreamKind,
  fields: Partial<Handshake> = {},
): Handshake {
  return {
    magic: HANDSHAKE_MAGIC,
    version: PROTOCOL_VERSION,
    cluster: clusterIdentity(TEST_CLUSTER_ID, undefined),
    from,
    to,
    kind,
    ...fields,
  };
}
