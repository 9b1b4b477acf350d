// Reconnect delays: exponential from minMs, capped at maxMs, with jitter so members that lost a
// peer at the same moment do not redial it in lockstep. Every delay lies in [minMs, maxMs].

export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  /** Uniform in [0, 1); injected so tests can pin the delays. */
  readonly random: () => number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly o: BackoffOptions) {}

  /** The delay before the next attempt; each call without a reset doubles the ceiling. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.o.maxMs, this.o.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    // Equal jitter: half the ceiling is certain, the other half random.
    const delay = ceiling / 2 + (this.o.random() * ceiling) / 2;
    return Math.round(Math.min(this.o.maxMs, Math.max(this.o.minMs, delay)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
