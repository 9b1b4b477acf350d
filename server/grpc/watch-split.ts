// Keeps watch responses within the member's message limit. A watcher that allowed fragments gets
// etcd's fragmentation (cut anywhere, every piece but the last flagged `fragment`); any other
// watcher is cut only between revisions, so each piece is a complete response on its own and a
// single revision larger than the limit still goes whole.

import type { WireEvent, WireKeyValue, WireWatchResponse } from './wire-types.js';

/** Encoded size bound of a response without events: header, watch id, flags, cancel reason. */
export const RESPONSE_BASE_BYTES = 96;
/** Field tags, lengths and varints of one KeyValue around its key and value bytes (upper bound). */
const KEY_VALUE_OVERHEAD_BYTES = 56;
/** The Event wrapper around its KeyValues (upper bound). */
const EVENT_OVERHEAD_BYTES = 16;

function keyValueBytes(kv: WireKeyValue): number {
  return KEY_VALUE_OVERHEAD_BYTES + kv.key.length + kv.value.length;
}

/** An upper bound on the event's encoded size. */
export function eventWireBytes(ev: WireEvent): number {
  return (
    EVENT_OVERHEAD_BYTES + keyValueBytes(ev.kv) + (ev.prev_kv === undefined ? 0 : keyValueBytes(ev.prev_kv))
  );
}

export function splitWatchResponse(
  resp: WireWatchResponse,
  maxBytes: number,
  fragment: boolean,
): WireWatchResponse[] {
  const events = resp.events;
  if (events.length < 2) return [resp];
  const sizes = events.map(eventWireBytes);
  const total = sizes.reduce((a, b) => a + b, RESPONSE_BASE_BYTES);
  if (total <= maxBytes) return [resp];
  const pieces = fragment ? cutAnywhere(sizes, maxBytes) : cutBetweenRevisions(events, sizes, maxBytes);
  return pieces.map(([from, to], i) => ({
    ...resp,
    events: events.slice(from, to),
    ...(fragment ? { fragment: i < pieces.length - 1 } : {}),
  }));
}

/** [from, to) index ranges, each at least one event, within maxBytes unless one event is larger. */
function cutAnywhere(sizes: readonly number[], maxBytes: number): [number, number][] {
  const pieces: [number, number][] = [];
  let from = 0;
  let bytes = RESPONSE_BASE_BYTES;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i]!;
    if (i > from && bytes + size > maxBytes) {
      pieces.push([from, i]);
      from = i;
      bytes = RESPONSE_BASE_BYTES;
    }
    bytes += size;
  }
  pieces.push([from, sizes.length]);
  return pieces;
}

function cutBetweenRevisions(
  events: readonly WireEvent[],
  sizes: readonly number[],
  maxBytes: number,
): [number, number][] {
  // Whole revisions first: [from, to) and their size.
  const revisions: { from: number; to: number; bytes: number }[] = [];
  for (let i = 0; i < events.length; i++) {
    const last = revisions[revisions.length - 1];
    if (last !== undefined && events[last.from]!.kv.mod_revision === events[i]!.kv.mod_revision) {
      last.to = i + 1;
      last.bytes += sizes[i]!;
    } else {
      revisions.push({ from: i, to: i + 1, bytes: sizes[i]! });
    }
  }
  const pieces: [number, number][] = [];
  let current: [number, number] | null = null;
  let bytes = RESPONSE_BASE_BYTES;
  for (const r of revisions) {
    if (current !== null && bytes + r.bytes > maxBytes) {
      pieces.push(current);
      current = null;
      bytes = RESPONSE_BASE_BYTES;
    }
    current = current === null ? [r.from, r.to] : [current[0], r.to];
    bytes += r.bytes;
  }
  if (current !== null) pieces.push(current);
  return pieces;
}
