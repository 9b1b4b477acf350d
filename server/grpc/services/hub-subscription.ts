// A watch on the member's hub read one response at a time with `await next()`, for services that
// wait on keys (Lock, Election). The hub learns a response is consumed only when next() takes it,
// so a slow reader holds back the hub's deliveries instead of queueing them here.

import type { WatchHub } from '../../../kv/watch/hub.js';
import type { Watcher, WatchRequest, WatchResponse } from '../../../kv/watch/watcher.js';

interface Delivered {
  readonly resp: WatchResponse;
  readonly taken: () => void;
}

/** The error a waiting call ends with when its signal fires. */
export function abortError(): Error {
  return new DOMException('the call was canceled', 'AbortError');
}

export class HubSubscription {
  private readonly queue: Delivered[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly watcher: Watcher;

  constructor(hub: WatchHub, req: WatchRequest) {
    this.watcher = hub.watch(req, (resp) => this.deliver(resp));
  }

  private deliver(resp: WatchResponse): Promise<void> | undefined {
    if (this.closed || resp.created === true || resp.progress === true) return undefined;
    return new Promise<void>((taken) => {
      this.queue.push({ resp, taken });
      this.wake?.();
    });
  }

  /**
   * The next response carrying events, or the last one of a watch the hub ended (canceled,
   * possibly with compactRevision). Rejects with an AbortError when `signal` fires first.
   */
  next(signal: AbortSignal): Promise<WatchResponse> {
    return new Promise<WatchResponse>((resolve, reject) => {
      const take = (): boolean => {
        const item = this.queue.shift();
        if (item === undefined) return false;
        item.taken();
        resolve(item.resp);
        return true;
      };
      if (signal.aborted) {
        reject(abortError());
        return;
      }
      if (take()) return;
      const onAbort = (): void => {
        this.wake = null;
        reject(abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.wake = () => {
        if (!take()) return;
        this.wake = null;
        signal.removeEventListener('abort', onAbort);
      };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const item of this.queue.splice(0)) item.taken();
    this.watcher.cancel();
  }
}
