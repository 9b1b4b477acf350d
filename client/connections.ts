// One gRPC channel per endpoint, shared by every service, and the rules for choosing an endpoint
// and retrying. Unary calls go round-robin over the endpoints believed healthy (so reads spread
// and writes reach any member, which forwards them); a failed endpoint sits out a growing pause.
// A call is retried on another endpoint only when that is safe: idempotent requests after any
// transient failure, writes only when the request certainly was not applied — it never left this
// process (the channel could not connect) or the server refused it before proposing it.

import {
  Channel,
  type ChannelCredentials,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  connectivityState,
  credentials,
  type GrpcObject,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { etcdGrpcObject, SERVICE_NAMES, type ServiceKey } from '../server/proto/etcd.js';
import { type Endpoint, parseEndpoints } from './endpoints.js';
import { abortedByCaller, fromGrpcError, isRetryable, NetcdError } from './errors.js';
import { backoff, sleep } from './sleep.js';

export interface TlsFiles {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface ConnectionOptions {
  readonly endpoints: readonly string[] | string;
  /** How long to wait for a connection to an endpoint before trying the next one. */
  readonly dialTimeoutMs?: number;
  /** The default deadline of a request, retries included. */
  readonly requestTimeoutMs?: number;
  readonly tls?: TlsFiles;
  /** Largest response accepted, like etcdctl's --max-recv-bytes. */
  readonly maxReceiveBytes?: number;
}

export interface CallOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

interface UnaryOptions extends CallOptions {
  /** Whether sending the request twice is harmless (reads); writes are retried only when not applied. */
  readonly idempotent: boolean;
}

const DEFAULT_DIAL_TIMEOUT_MS = 2000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
const DOWN_BASE_MS = 200;
const DOWN_MAX_MS = 5000;
const RETRY_BASE_MS = 25;
const RETRY_MAX_MS = 500;

type Method = (...args: unknown[]) => unknown;

class EndpointConnection {
  readonly endpoint: Endpoint;
  readonly channel: Channel;
  private readonly clients = new Map<ServiceKey, Client>();
  downUntil = 0;
  failures = 0;

  constructor(endpoint: Endpoint, creds: ChannelCredentials, options: Record<string, number>) {
    this.endpoint = endpoint;
    this.channel = new Channel(endpoint.target, creds, options);
  }

  client(service: ServiceKey, grpc: GrpcObject): Client {
    let c = this.clients.get(service);
    if (c === undefined) {
      const [pkg, name] = SERVICE_NAMES[service].split('.') as [string, string];
      const ctor = (grpc[pkg] as GrpcObject)[name] as ServiceClientConstructor;
      c = new ctor(this.endpoint.target, credentials.createInsecure(), { channelOverride: this.channel });
      this.clients.set(service, c);
    }
    return c;
  }

  /** Resolves once the channel is connected; rejects when it fails to connect before `deadline`. */
  async ready(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const state = this.channel.getConnectivityState(true);
      if (state === connectivityState.READY) return;
      if (state === connectivityState.SHUTDOWN) throw new Error('connection closed');
      // A refused or broken connection is definitive for this attempt; the channel keeps
      // reconnecting in the background with its own backoff.
      if (state === connectivityState.TRANSIENT_FAILURE)
        throw new Error(`cannot connect to ${this.endpoint.url}`);
      if (signal?.aborted === true) throw abortedByCaller(signal.reason);
      if (Date.now() >= deadline) throw new Error(`timed out connecting to ${this.endpoint.url}`);
      await new Promise<void>((resolve, reject) =>
        this.channel.watchConnectivityState(state, Math.min(deadline, Date.now() + 1000), (err) =>
          err !== undefined && Date.now() >= deadline
            ? reject(new Error(`timed out connecting to ${this.endpoint.url}`))
            : resolve(),
        ),
      );
    }
  }

  markDown(): void {
    this.failures += 1;
    this.downUntil = Date.now() + backoff(this.failures - 1, DOWN_BASE_MS, DOWN_MAX_MS);
  }

  markUp(): void {
    this.failures = 0;
    this.downUntil = 0;
  }
}

/** Whether a failed call's error says the connection to the member broke (not a server answer). */
function isConnectionFailure(err: NetcdError): boolean {
  return err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED' || err.code === 'STOPPED';
}

export class Connections {
  private readonly conns: EndpointConnection[];
  private readonly grpc = etcdGrpcObject();
  private next = 0;
  private closed = false;
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;

  constructor(o: ConnectionOptions) {
    const endpoints = parseEndpoints(o.endpoints);
    this.dialTimeoutMs = o.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const channelOptions: Record<string, number> = {
      'grpc.max_receive_message_length': o.maxReceiveBytes ?? 2 ** 31 - 1,
      'grpc.max_send_message_length': 2 ** 31 - 1,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Each client has its own connections (grpc-js would otherwise share them process-wide), so
      // closing one client never breaks another and load spreads as it would from separate hosts.
      'grpc.use_local_subchannel_pool': 1,
    };
    this.conns = endpoints.map((e) => {
      const creds = e.secure
        ? credentials.createSsl(o.tls?.ca ?? null, o.tls?.key ?? null, o.tls?.cert ?? null)
        : credentials.createInsecure();
      return new EndpointConnection(e, creds, channelOptions);
    });
  }

  get endpoints(): readonly Endpoint[] {
    return this.conns.map((c) => c.endpoint);
  }

  /** The next endpoint to try: round-robin over the healthy ones, else the one that failed longest ago. */
  private pick(exclude?: EndpointConnection): EndpointConnection {
    const now = Date.now();
    const n = this.conns.length;
    for (let i = 0; i < n; i++) {
      const c = this.conns[(this.next + i) % n] as EndpointConnection;
      if (c.downUntil <= now && c !== exclude) {
        this.next = (this.next + i + 1) % n;
        return c;
      }
    }
    const candidates = this.conns.filter((c) => c !== exclude);
    const pool = candidates.length > 0 ? candidates : this.conns;
    return pool.reduce((a, b) => (b.downUntil < a.downUntil ? b : a));
  }

  private byTarget(target: string): EndpointConnection {
    const c = this.conns.find((x) => x.endpoint.target === target || x.endpoint.url === target);
    if (c === undefined)
      throw new NetcdError('INVALID_ARGUMENT', `unknown endpoint ${target}`, 'not-applied');
    return c;
  }

  private checkOpen(): void {
    if (this.closed) throw new NetcdError('CANCELLED', 'client closed', 'not-applied');
  }

  /**
   * Calls a unary method. With `endpoint`, only that member is asked (status, hashes, defrag
   * address one member); otherwise any member, with failover and safe retries until the deadline.
   */
  async unary<Res>(
    service: ServiceKey,
    method: string,
    request: object,
    o: UnaryOptions & { readonly endpoint?: string },
  ): Promise<Res> {
    this.checkOpen();
    const deadline = Date.now() + (o.timeoutMs ?? this.requestTimeoutMs);
    const pinned = o.endpoint === undefined ? undefined : this.byTarget(o.endpoint);
    let attempt = 0;
    let last: EndpointConnection | undefined;
    for (;;) {
      if (o.signal?.aborted === true) throw abortedByCaller(o.signal.reason);
      const conn = pinned ?? this.pick(last);
      last = conn;
      let sent = false;
      let error: NetcdError;
      try {
        await conn.ready(Math.min(deadline, Date.now() + this.dialTimeoutMs), o.signal);
        sent = true;
        const res = await this.callOnce<Res>(conn, service, method, request, deadline, o.signal);
        conn.markUp();
        return res;
      } catch (err) {
        if (err instanceof NetcdError && err.code === 'ABORTED_BY_CALLER') throw err;
        error = sent
          ? fromGrpcError(err, true)
          : new NetcdError('UNAVAILABLE', (err as Error).message, 'not-applied', undefined, { cause: err });
      }
      if (!sent || isConnectionFailure(error)) conn.markDown();
      attempt += 1;
      if (!isRetryable(error, o.idempotent) || Date.now() >= deadline || this.closed) throw error;
      const pause = Math.min(backoff(attempt, RETRY_BASE_MS, RETRY_MAX_MS), deadline - Date.now());
      await sleep(pause, o.signal);
    }
  }

  private callOnce<Res>(
    conn: EndpointConnection,
    service: ServiceKey,
    method: string,
    request: object,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<Res> {
    const client = conn.client(service, this.grpc) as unknown as Record<string, Method>;
    const fn = client[method];
    if (fn === undefined) throw new Error(`no method ${service}.${method}`);
    return new Promise<Res>((resolve, reject) => {
      const onAbort = (): void => {
        call.cancel();
        reject(abortedByCaller(signal?.reason));
      };
      const call = fn.call(
        client,
        request,
        new Metadata(),
        { deadline },
        (err: ServiceError | null, res: Res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(res);
        },
      ) as { cancel(): void };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Opens a bidirectional stream on a healthy endpoint (`avoid` is tried last: the one that just
   * failed). The caller owns the stream and reopens it elsewhere when it breaks.
   */
  async duplex<Req, Res>(
    service: ServiceKey,
    method: string,
    o: CallOptions & { readonly avoid?: string | undefined },
  ): Promise<{ call: ClientDuplexStream<Req, Res>; endpoint: string }> {
    const conn = await this.readyConnection(o);
    const client = conn.client(service, this.grpc) as unknown as Record<string, Method>;
    const fn = client[method] as Method;
    const call = fn.call(client, new Metadata(), {}) as ClientDuplexStream<Req, Res>;
    return { call, endpoint: conn.endpoint.target };
  }

  /** Opens a server stream (Snapshot, Observe) on a healthy endpoint, or on `endpoint` when given. */
  async serverStream<Res>(
    service: ServiceKey,
    method: string,
    request: object,
    o: CallOptions & { readonly avoid?: string | undefined; readonly endpoint?: string | undefined },
  ): Promise<{ call: ClientReadableStream<Res>; endpoint: string }> {
    const conn = await this.readyConnection(o);
    const client = conn.client(service, this.grpc) as unknown as Record<string, Method>;
    const fn = client[method] as Method;
    const call = fn.call(client, request, new Metadata(), {}) as ClientReadableStream<Res>;
    return { call, endpoint: conn.endpoint.target };
  }

  /** Marks an endpoint as failed, so the next picks prefer the others for a while. */
  reportFailure(target: string): void {
    this.conns.find((c) => c.endpoint.target === target)?.markDown();
  }

  private async readyConnection(
    o: CallOptions & { readonly avoid?: string | undefined; readonly endpoint?: string | undefined },
  ): Promise<EndpointConnection> {
    this.checkOpen();
    const deadline = Date.now() + (o.timeoutMs ?? this.requestTimeoutMs);
    if (o.endpoint !== undefined) {
      const conn = this.byTarget(o.endpoint);
      await this.readyOrThrow(conn, deadline, o.signal);
      return conn;
    }
    let avoid = o.avoid === undefined ? undefined : this.conns.find((c) => c.endpoint.target === o.avoid);
    for (let attempt = 0; ; attempt++) {
      const conn = this.pick(avoid);
      try {
        await conn.ready(Math.min(deadline, Date.now() + this.dialTimeoutMs), o.signal);
        return conn;
      } catch (err) {
        if (err instanceof NetcdError) throw err;
        conn.markDown();
        avoid = conn;
        if (Date.now() >= deadline || this.closed)
          throw new NetcdError('UNAVAILABLE', (err as Error).message, 'not-applied', undefined, {
            cause: err,
          });
        await sleep(backoff(attempt, RETRY_BASE_MS, RETRY_MAX_MS), o.signal);
      }
    }
  }

  private async readyOrThrow(
    conn: EndpointConnection,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await conn.ready(deadline, signal);
    } catch (err) {
      if (err instanceof NetcdError) throw err;
      throw new NetcdError('UNAVAILABLE', (err as Error).message, 'not-applied', undefined, { cause: err });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns) c.channel.close();
  }
}
