// Test harness for the gRPC layer: a FakeMember served by createGrpcServer on 127.0.0.1 (free
// port), and raw grpc-js clients built from the same protos (for netcd or a real etcd). Responses come back as plain JSON
// values (bytes as UTF-8 strings) so tests can compare them exactly. Everything is closed in the
// test's teardown.

import {
  Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  type ServiceError,
} from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { etcdPackageDefinition, SERVICE_NAMES, type ServiceKey } from '../../proto/etcd.js';
import { bindGrpcServer, createGrpcServer, type GrpcServerOptions } from '../server.js';
import { FakeMember, type FakeMemberOptions } from './fake-member.js';

/** A decoded message with Buffers turned into strings: what tests compare against. */
export type Plain = string | number | boolean | null | readonly Plain[] | { readonly [key: string]: Plain };

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export function plain(value: unknown): Plain {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object') {
    const out: Record<string, Plain> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

/** Reads a nested field of a plain message ("header.revision", "events.0.kv"); throws when absent. */
export function field(value: Plain, path: string): Plain {
  let at: Plain = value;
  for (const part of path.split('.')) {
    let next: Plain | undefined;
    if (Array.isArray(at)) next = (at as readonly Plain[])[Number(part)];
    else if (at !== null && typeof at === 'object') next = (at as { readonly [key: string]: Plain })[part];
    if (next === undefined) throw new Error(`no ${path} in ${JSON.stringify(value).slice(0, 500)}`);
    at = next;
  }
  return at;
}

export function numberField(value: Plain, path: string): number {
  return Number(field(value, path));
}

export interface RpcFailure {
  readonly code: number;
  readonly details: string;
}

export type Outcome =
  | { readonly ok: true; readonly value: Plain }
  | { readonly ok: false; readonly failure: RpcFailure };

type AnyMethod = MethodDefinition<object, object>;

function method(service: ServiceKey, name: string): AnyMethod {
  const def = etcdPackageDefinition()[SERVICE_NAMES[service]];
  const m = def !== undefined && !('format' in def) ? (def as Record<string, AnyMethod>)[name] : undefined;
  if (m === undefined) throw new Error(`no method ${SERVICE_NAMES[service]}/${name}`);
  return m;
}

/** Responses of a stream, awaited one at a time with a deadline. */
export class StreamReader {
  private readonly queue: Plain[] = [];
  private waiter: (() => void) | null = null;
  ended = false;
  error: RpcFailure | null = null;

  constructor(stream: ClientReadableStream<object> | ClientDuplexStream<object, object>) {
    stream.on('data', (msg: object) => {
      this.queue.push(plain(msg));
      this.waiter?.();
    });
    stream.on('error', (err: ServiceError) => {
      this.error = { code: err.code, details: err.details };
      this.waiter?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  get buffered(): number {
    return this.queue.length;
  }

  /** The next response; rejects when none comes within `timeoutMs` or the stream ended first. */
  async next(timeoutMs = 5000): Promise<Plain> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msg = this.queue.shift();
      if (msg !== undefined) return msg;
      if (this.error !== null) throw new Error(`stream failed: ${this.error.code} ${this.error.details}`);
      if (this.ended) throw new Error('stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  /** Resolves when the stream ended or failed, within `timeoutMs`. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && this.error === null) {
      if (Date.now() > deadline) throw new Error('stream still open');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** A raw grpc-js client speaking etcd's services, to netcd or to a real etcd. */
export interface RawClient {
  call(service: ServiceKey, name: string, request: object): Promise<Plain>;
  /** A call that must fail: its status code and message. */
  fail(service: ServiceKey, name: string, request: object): Promise<RpcFailure>;
  bidi(
    service: ServiceKey,
    name: string,
  ): { stream: ClientDuplexStream<object, object>; reader: StreamReader };
  serverStream(
    service: ServiceKey,
    name: string,
    request: object,
  ): {
    stream: ClientReadableStream<object>;
    reader: StreamReader;
  };
  /** A unary call left running, to be canceled by the test. */
  pending(service: ServiceKey, name: string, request: object): { cancel(): void; done: Promise<Outcome> };
}

export interface Harness extends RawClient {
  readonly member: FakeMember;
  readonly port: number;
  /** host:port of the server. */
  readonly address: string;
}

export interface HarnessOptions {
  readonly member?: FakeMemberOptions;
  readonly server?: GrpcServerOptions;
}

export async function startHarness(t: Teardown, options: HarnessOptions = {}): Promise<Harness> {
  const member = new FakeMember(options.member);
  const server = createGrpcServer(member, options.server);
  const port = await bindGrpcServer(server, '127.0.0.1:0');
  const address = `127.0.0.1:${port}`;
  t.teardown(() => {
    server.forceShutdown();
    member.stop();
  });
  return { member, port, address, ...connectRaw(t, address) };
}

/** A client for host:port, closed in the test's teardown. */
export function connectRaw(t: Teardown, address: string): RawClient {
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  t.teardown(() => client.close());

  const unary = (service: ServiceKey, name: string, request: object) => {
    const m = method(service, name);
    let cancel = (): void => undefined;
    const done = new Promise<Outcome>((resolve) => {
      const call = client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        (err, res) =>
          resolve(
            err
              ? { ok: false, failure: { code: err.code, details: err.details } }
              : { ok: true, value: plain(res) },
          ),
      );
      cancel = () => call.cancel();
    });
    return { cancel: () => cancel(), done };
  };

  return {
    async call(service, name, request) {
      const res = await unary(service, name, request).done;
      if (!res.ok) throw new Error(`${service}/${name} failed: ${res.failure.code} ${res.failure.details}`);
      return res.value;
    },
    async fail(service, name, request) {
      const res = await unary(service, name, request).done;
      if (res.ok) throw new Error(`${service}/${name} succeeded: ${JSON.stringify(res.value)}`);
      return res.failure;
    },
    bidi(service, name) {
      const m = method(service, name);
      const stream = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
      return { stream, reader: new StreamReader(stream) };
    },
    serverStream(service, name, request) {
      const m = method(service, name);
      const stream = client.makeServerStreamRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
      );
      return { stream, reader: new StreamReader(stream) };
    },
    pending: unary,
  };
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function eventually(
  condition: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const bytes = (s: string): Buffer => Buffer.from(s);
