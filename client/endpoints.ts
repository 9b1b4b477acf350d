// Endpoint strings as etcd's tools accept them: `http://host:port`, `https://host:port` or a bare
// `host:port` (plain text). IPv6 hosts are written in brackets.

export interface Endpoint {
  /** What the user wrote, for messages. */
  readonly url: string;
  /** `host:port` as gRPC targets it. */
  readonly target: string;
  readonly secure: boolean;
}

export class EndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointError';
  }
}

export function parseEndpoint(raw: string): Endpoint {
  const text = raw.trim();
  if (text === '') throw new EndpointError('empty endpoint');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new EndpointError(
      `invalid endpoint ${JSON.stringify(raw)}: expected http://host:port or host:port`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new EndpointError(`invalid endpoint ${JSON.stringify(raw)}: scheme must be http or https`);
  if (url.port === '') throw new EndpointError(`invalid endpoint ${JSON.stringify(raw)}: no port`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '')
    throw new EndpointError(
      `invalid endpoint ${JSON.stringify(raw)}: only scheme, host and port are allowed`,
    );
  return { url: text, target: `${url.hostname}:${url.port}`, secure: url.protocol === 'https:' };
}

/** Parses a list, also accepting comma-separated entries (as --endpoints does). */
export function parseEndpoints(raw: readonly string[] | string): Endpoint[] {
  const parts = (typeof raw === 'string' ? [raw] : raw).flatMap((s) => s.split(',')).filter((s) => s.trim());
  if (parts.length === 0) throw new EndpointError('no endpoints given');
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const part of parts) {
    const e = parseEndpoint(part);
    if (seen.has(e.target)) continue;
    seen.add(e.target);
    out.push(e);
  }
  return out;
}
