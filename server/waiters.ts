// Callers waiting for something the node loop will produce: the applied result of a proposal
// (keyed by request id) or the applied index reaching a read point. Every wait has a deadline and
// honours an AbortSignal, and stopping the member rejects them all, so no caller hangs.

import { ServerError } from './api.js';

interface Pending<T> {
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
  readonly cleanup: () => void;
}

export const TIMEOUT_MESSAGE = 'request timed out';

function guard<T>(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onSettle: () => void,
): { promise: Promise<T>; pending: Pending<T> } {
  let resolveOuter!: (v: T) => void;
  let rejectOuter!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolveOuter = res;
    rejectOuter = rej;
  });
  const onAbort = (): void => finish(() => rejectOuter(new ServerError('CANCELED', 'context canceled')));
  const timer = setTimeout(
    () => finish(() => rejectOuter(new ServerError('TIMEOUT', TIMEOUT_MESSAGE))),
    timeoutMs,
  );
  let done = false;
  const cleanup = (): void => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  function finish(settle: () => void): void {
    if (done) return;
    done = true;
    cleanup();
    onSettle();
    settle();
  }
  if (signal?.aborted === true) queueMicrotask(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    promise,
    pending: {
      resolve: (v) => finish(() => resolveOuter(v)),
      reject: (e) => finish(() => rejectOuter(e)),
      cleanup,
    },
  };
}

/** Waiters keyed by id (proposals): resolved when the entry carrying the id is applied. */
export class KeyedWaiters<T> {
  private readonly pending = new Map<string, Pending<T>>();

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    const { promise, pending } = guard<T>(timeoutMs, signal, () => this.pending.delete(id));
    this.pending.set(id, pending);
    return promise;
  }

  resolve(id: string, value: T): boolean {
    const p = this.pending.get(id);
    if (p === undefined) return false;
    p.resolve(value);
    return true;
  }

  reject(id: string, err: unknown): boolean {
    const p = this.pending.get(id);
    if (p === undefined) return false;
    p.reject(err);
    return true;
  }

  rejectAll(err: unknown): void {
    for (const p of [...this.pending.values()]) p.reject(err);
  }
}

/** Waiters for the applied index to reach a point (linearizable reads, barriers). */
export class IndexWaiters {
  /** Unordered: the number waiting at once is bounded by the read batches in flight. */
  private readonly pending = new Set<{ readonly index: number; readonly p: Pending<void> }>();

  get size(): number {
    return this.pending.size;
  }

  wait(index: number, applied: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (applied >= index) return Promise.resolve();
    const entry: { index: number; p: Pending<void> } = { index, p: undefined as unknown as Pending<void> };
    const { promise, pending } = guard<void>(timeoutMs, signal, () => this.pending.delete(entry));
    entry.p = pending;
    this.pending.add(entry);
    return promise;
  }

  /** The applied index moved to `applied`. */
  notify(applied: number): void {
    for (const w of [...this.pending]) if (w.index <= applied) w.p.resolve();
  }

  rejectAll(err: unknown): void {
    for (const w of [...this.pending]) w.p.reject(err);
  }
}
