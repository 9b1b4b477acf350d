// Proves wire compatibility by difference: one script of raw gRPC calls (KV, Lease, Watch) runs
// against a real etcd 3.4 (Debian's etcd-server, required) and against netcd's gRPC layer on a
// fake member, and every response and error must be identical once the member's identity
// (cluster and member ids, raft term) is masked.

import t from 'tap';
import { startEtcd } from '../../kv/testing/etcd-process.js';
import { bytes as b, connectRaw, type Plain, type RawClient, startHarness } from './testing/harness.js';

/** Masks what differs between any two clusters: ids and terms in top-level headers. */
function masked(value: Plain): Plain {
  if (Array.isArray(value)) return value.map(masked);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, Plain> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'header' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const h = v as { readonly [key: string]: Plain };
      const top = h.cluster_id !== '0';
      out[k] = top ? { ...h, cluster_id: 'X', member_id: 'X', raft_term: 'X' } : h;
    } else {
      out[k] = masked(v);
    }
  }
  return out;
}

/** Runs the script against one endpoint; returns every outcome in order. */
async function script(c: RawClient): Promise<Plain[]> {
  const out: Plain[] = [];
  const call = async (service: Parameters<RawClient['call']>[0], method: string, req: object) => {
    const m = method;
    try {
      out.push([m, masked(await c.call(service, m, req))]);
    } catch {
      const f = await c.fail(service, m, req);
      out.push([m, 'error', f.code, f.details]);
    }
  };
  // KV
  await call('KV', 'Put', { key: b('a'), value: b('1') });
  await call('KV', 'Put', { key: b('a'), value: b('2'), prev_kv: true });
  for (const k of ['p/1', 'p/2', 'p/3', 'q']) await call('KV', 'Put', { key: b(k), value: b(`v${k}`) });
  await call('KV', 'Range', { key: b('a') });
  await call('KV', 'Range', { key: b('p/'), range_end: b('p0'), limit: 2 });
  await call('KV', 'Range', { key: b('p/'), range_end: b('p0'), sort_order: 'DESCEND', sort_target: 'MOD' });
  await call('KV', 'Range', { key: b('p/'), range_end: b('p0'), sort_target: 'VALUE' });
  await call('KV', 'Range', { key: b('p/'), range_end: b('p0'), keys_only: true, count_only: false });
  await call('KV', 'Range', { key: b('p/'), range_end: b('p0'), count_only: true });
  await call('KV', 'Range', { key: b('a'), revision: 2 });
  await call('KV', 'Range', { key: b('p/2'), range_end: b('\0') });
  await call('KV', 'Range', { key: b('\0'), range_end: b('\0'), min_mod_revision: 5, max_mod_revision: 6 });
  await call('KV', 'DeleteRange', { key: b('p/2'), prev_kv: true });
  await call('KV', 'DeleteRange', { key: b('nothing') });
  await call('KV', 'Txn', {
    compare: [{ key: b('a'), target: 'VALUE', result: 'EQUAL', value: b('2') }],
    success: [
      { request_put: { key: b('x'), value: b('1'), prev_kv: true } },
      { request_range: { key: b('a') } },
      { request_delete_range: { key: b('q'), prev_kv: true } },
      { request_txn: { success: [{ request_put: { key: b('y'), value: b('2') } }] } },
    ],
  });
  await call('KV', 'Txn', {
    compare: [{ key: b('p/'), range_end: b('p0'), target: 'VERSION', result: 'GREATER', version: 1 }],
    success: [{ request_put: { key: b('z'), value: b('no') } }],
    failure: [{ request_range: { key: b('p/'), range_end: b('p0') } }],
  });
  await call('KV', 'Txn', { compare: [{ key: b('a'), target: 'MOD', result: 'LESS', mod_revision: 100 }] });
  // KV errors
  await call('KV', 'Put', { key: b(''), value: b('x') });
  await call('KV', 'Range', { key: b('') });
  await call('KV', 'Put', { key: b('a'), value: b('x'), ignore_value: true });
  await call('KV', 'Put', { key: b('nokey'), ignore_value: true });
  await call('KV', 'Put', { key: b('a'), ignore_lease: true, lease: 3 });
  await call('KV', 'Put', { key: b('a'), value: b('x'), lease: 4242 });
  await call('KV', 'Txn', {
    success: Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`t${i}`), value: b('') } })),
  });
  await call('KV', 'Txn', {
    success: [{ request_put: { key: b('d'), value: b('1') } }, { request_delete_range: { key: b('d') } }],
  });
  await call('KV', 'Txn', { success: [{}] });
  await call('KV', 'Range', { key: b('a'), revision: 1000 });
  await call('KV', 'Put', { key: b('a'), value: b('3'), ignore_lease: true, prev_kv: true });
  // Leases
  await call('Lease', 'LeaseGrant', { ID: 100, TTL: 30 });
  await call('Lease', 'LeaseGrant', { ID: 100, TTL: 30 });
  await call('Lease', 'LeaseGrant', { ID: 101, TTL: 9_000_000_001 });
  await call('KV', 'Put', { key: b('leased'), value: b('v'), lease: 100 });
  await call('Lease', 'LeaseTimeToLive', { ID: 4242, keys: true });
  await call('Lease', 'LeaseRevoke', { ID: 4242 });
  await call('Lease', 'LeaseRevoke', { ID: 100 });
  await call('KV', 'Range', { key: b('leased') });
  // Compaction
  await call('KV', 'Compact', { revision: 1000 });
  await call('KV', 'Compact', { revision: 5 });
  await call('KV', 'Compact', { revision: 5 });
  await call('KV', 'Range', { key: b('a'), revision: 4 });
  await call('KV', 'Range', { key: b('a'), revision: 5 });
  // Watch
  const { stream, reader } = c.bidi('Watch', 'Watch');
  const next = async (what: string) => out.push([what, masked(await reader.next())]);
  stream.write({ create_request: { key: b('a'), prev_kv: true } });
  await next('created');
  await c.call('KV', 'Put', { key: b('a'), value: b('4') });
  await next('event');
  stream.write({ create_request: { key: b('p/'), range_end: b('p0'), start_revision: 6, watch_id: 5 } });
  await next('created with id');
  await next('history');
  stream.write({
    create_request: { key: b('p/'), range_end: b('p0'), start_revision: 6, filters: ['NOPUT'] },
  });
  await next('created filtered');
  await next('history filtered');
  stream.write({ create_request: { key: b('x'), watch_id: 5 } });
  await next('duplicate id');
  stream.write({ create_request: { key: b('b'), range_end: b('a') } });
  await next('empty range');
  stream.write({ cancel_request: { watch_id: 5 } });
  await next('canceled');
  stream.write({ progress_request: {} });
  await next('progress');
  await c.call('KV', 'DeleteRange', { key: b('a'), prev_kv: true });
  await next('delete event');
  // Half-closing does not end a watch stream: the watches still deliver.
  stream.end();
  await c.call('KV', 'Put', { key: b('a'), value: b('5') });
  await next('event after half-close');
  stream.cancel();
  await reader.closed();
  return out;
}

t.test('netcd answers the script exactly like etcd 3.4', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const expected = await script(connectRaw(t, new URL(etcd.clientUrl).host));
  const h = await startHarness(t, { member: { minLeaseTtlSeconds: 5 } });
  const actual = await script(h);
  t.equal(actual.length, expected.length);
  for (const [i, want] of expected.entries())
    t.strictSame(actual[i], want, `step ${i}: ${JSON.stringify(want).slice(0, 60)}`);
});
