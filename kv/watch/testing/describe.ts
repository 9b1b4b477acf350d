// Watch responses as one-line strings, so tests can assert exact outcomes that a person can read:
// `#id r<header> created|progress|canceled|compacted@N [put k@rev=value prev=k@rev=value, delete k@rev]`.

import { keyString } from '../../keys.js';
import type { Event, KeyValue } from '../../types.js';
import type { WatchResponse } from '../watcher.js';

function kvText(kv: KeyValue): string {
  return `${keyString(kv.key)}@${kv.modRevision}`;
}

export function describeEvent(ev: Event): string {
  const head =
    ev.type === 'put' ? `put ${kvText(ev.kv)}=${keyString(ev.kv.value)}` : `delete ${kvText(ev.kv)}`;
  return ev.prevKv === undefined ? head : `${head} prev=${kvText(ev.prevKv)}=${keyString(ev.prevKv.value)}`;
}

export function describeResponse(resp: WatchResponse): string {
  const parts = [`#${resp.watchId}`, `r${resp.revision}`];
  if (resp.created === true) parts.push('created');
  if (resp.progress === true) parts.push('progress');
  if (resp.compactRevision !== undefined) parts.push(`compacted@${resp.compactRevision}`);
  if (resp.canceled === true)
    parts.push(resp.cancelReason === undefined ? 'canceled' : `canceled(${resp.cancelReason})`);
  if (resp.events.length > 0) parts.push(`[${resp.events.map(describeEvent).join(', ')}]`);
  return parts.join(' ');
}
