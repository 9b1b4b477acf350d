// A test consumer for watch responses: records them, and when stalled holds each one undrained
// (a thenable it settles later, in order). It records every moment it held more than `bound` events
// in more than one response: the hub allows only a single oversize revision into an empty buffer.

import type { Drained, WatchResponse, WatchSink } from '../watcher.js';

class HeldResponse implements Drained {
  readonly events: number;
  private onDrained: (() => void) | undefined;
  constructor(events: number) {
    this.events = events;
  }
  // biome-ignore lint/suspicious/noThenProperty: a thenable is how a sink reports a later drain.
  then(onDrained: () => void): void {
    this.onDrained = onDrained;
  }
  drain(): void {
    this.onDrained?.();
  }
}

export class Consumer {
  readonly responses: WatchResponse[] = [];
  stalled = false;
  heldEvents = 0;
  maxHeldEvents = 0;
  readonly overBound: string[] = [];
  private readonly bound: number;
  private held: HeldResponse[] = [];

  constructor(bound = Number.POSITIVE_INFINITY) {
    this.bound = bound;
  }

  readonly sink: WatchSink = (resp) => {
    this.responses.push(resp);
    if (!this.stalled || resp.events.length === 0) return undefined;
    const h = new HeldResponse(resp.events.length);
    this.held.push(h);
    this.heldEvents += h.events;
    this.maxHeldEvents = Math.max(this.maxHeldEvents, this.heldEvents);
    if (this.heldEvents > this.bound && this.held.length > 1) {
      this.overBound.push(`${this.heldEvents} events in ${this.held.length} responses at r${resp.revision}`);
    }
    return h;
  };

  stall(): void {
    this.stalled = true;
  }

  /** Drains everything held, oldest first, and stops stalling. */
  resume(): void {
    this.stalled = false;
    this.drain(this.held.length);
  }

  /** Drains the `count` oldest held responses. */
  drain(count: number): void {
    for (const h of this.held.splice(0, count)) {
      this.heldEvents -= h.events;
      h.drain();
    }
  }

  /** Every event received, in order. */
  events(): WatchResponse['events'][number][] {
    return this.responses.flatMap((r) => r.events);
  }
}
