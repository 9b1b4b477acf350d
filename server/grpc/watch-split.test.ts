// Proves the splitting of large watch responses: small ones untouched, fragment-enabled ones cut
// anywhere with every piece but the last flagged, others cut only between revisions, and no
// event lost, duplicated or reordered, whatever the sizes (property).

import fc from 'fast-check';
import t from 'tap';
import { eventWireBytes, RESPONSE_BASE_BYTES, splitWatchResponse } from './watch-split.js';
import type { WireEvent, WireWatchResponse } from './wire-types.js';

const header = { cluster_id: 1, member_id: 2, revision: 9, raft_term: 1 };
const event = (revision: number, valueBytes: number, i = 0): WireEvent => ({
  type: 'PUT',
  kv: {
    key: Buffer.from(`k${i}`),
    create_revision: revision,
    mod_revision: revision,
    version: 1,
    value: Buffer.alloc(valueBytes),
    lease: 0,
  },
});
const resp = (events: WireEvent[]): WireWatchResponse => ({ header, watch_id: 3, events });
const shape = (pieces: WireWatchResponse[]) =>
  pieces.map((p) => `${p.events.map((e) => e.kv.mod_revision).join(',')}${p.fragment === true ? '+' : ''}`);

t.test('a response within the limit, or with one event, is sent as it is', async (t) => {
  const small = resp([event(1, 10), event(2, 10)]);
  t.equal(splitWatchResponse(small, 4096, true)[0], small);
  const single = resp([event(1, 10_000)]);
  t.equal(splitWatchResponse(single, 4096, false)[0], single);
  t.equal(splitWatchResponse(resp([]), 10, true).length, 1);
});

t.test('fragments: cut anywhere, every piece but the last flagged', async (t) => {
  const r = resp([event(5, 1000, 0), event(5, 1000, 1), event(5, 1000, 2), event(6, 1000, 3)]);
  t.strictSame(shape(splitWatchResponse(r, 2400, true)), ['5,5+', '5,6']);
  t.strictSame(shape(splitWatchResponse(r, 1200, true)), ['5+', '5+', '5+', '6']);
});

t.test('no fragments: cut only between revisions; a large revision stays whole', async (t) => {
  const r = resp([
    event(5, 1000, 0),
    event(5, 1000, 1),
    event(5, 1000, 2),
    event(6, 1000, 3),
    event(7, 10, 4),
  ]);
  t.strictSame(shape(splitWatchResponse(r, 2400, false)), ['5,5,5', '6,7']);
  t.strictSame(shape(splitWatchResponse(r, 1300, false)), ['5,5,5', '6,7']);
  t.strictSame(shape(splitWatchResponse(r, 1100, false)), ['5,5,5', '6', '7']);
});

t.test('property: pieces hold every event once, in order, within the limit where possible', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3000 })), {
        maxLength: 40,
      }),
      fc.integer({ min: 200, max: 8000 }),
      fc.boolean(),
      (steps, maxBytes, fragment) => {
        let revision = 1;
        const events = steps.map(([gap, size], i) => {
          revision += gap;
          return event(revision, size, i);
        });
        const pieces = splitWatchResponse(resp(events), maxBytes, fragment);
        const flat = pieces.flatMap((p) => p.events);
        if (flat.length !== events.length || flat.some((e, i) => e !== events[i])) return false;
        for (const [i, p] of pieces.entries()) {
          const bytes = p.events.reduce((a, e) => a + eventWireBytes(e), RESPONSE_BASE_BYTES);
          const revisions = new Set(p.events.map((e) => e.kv.mod_revision));
          const unavoidable = fragment ? p.events.length === 1 : revisions.size === 1;
          if (pieces.length > 1 && bytes > maxBytes && !unavoidable) return false;
          if (fragment && pieces.length > 1 && p.fragment !== i < pieces.length - 1) return false;
          if (!fragment && i > 0) {
            const prev = pieces[i - 1]!.events.at(-1)!.kv.mod_revision;
            if (prev === p.events[0]!.kv.mod_revision) return false;
          }
        }
        return true;
      },
    ),
    { seed: 7, numRuns: 300 },
  );
  t.pass('300 random responses split correctly (seed 7)');
});
