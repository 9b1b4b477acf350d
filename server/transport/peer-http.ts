// The peer port's plain-HTTP side: like etcd's, it answers GET /members so a joining member can
// learn the cluster before it can shake hands. HTTP is told from frames by the first bytes (no
// frame a peer sends starts with a method name); one bounded request, one answer, then close.

import type { Socket } from 'node:net';

export const MEMBERS_PATH = '/members';
/** Request head (request line and headers) accepted before answering 431. */
const MAX_REQUEST_HEAD_BYTES = 8 * 1024;
const HTTP_METHODS = ['GET ', 'HEAD', 'POST', 'PUT ', 'DELE', 'OPTI', 'PATC'];

/** Whether an accepted connection's first bytes start an HTTP request. */
export function looksLikeHttp(first: Uint8Array): boolean {
  if (first.length < 4) return false;
  const start = String.fromCharCode(first[0]!, first[1]!, first[2]!, first[3]!);
  return HTTP_METHODS.includes(start);
}

export interface FirstBytesRoutes {
  readonly onHttp: (first: Buffer) => void;
  /** The socket carries frames: its first bytes are pushed back for the frame reader. */
  readonly onPeer: () => void;
  /** Nothing arrived within the timeout; the socket is being destroyed. */
  readonly onSilent: () => void;
}

/** Waits for an accepted socket's first bytes and hands the socket to the matching route. */
export function routeByFirstBytes(socket: Socket, timeoutMs: number, routes: FirstBytesRoutes): void {
  const { onHttp, onPeer, onSilent } = routes;
  const timer = setTimeout(() => {
    onSilent();
    socket.destroy();
  }, timeoutMs);
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => {});
  socket.once('data', (first: Buffer) => {
    clearTimeout(timer);
    socket.pause();
    if (looksLikeHttp(first)) onHttp(first);
    else {
      socket.unshift(first);
      onPeer();
      socket.resume();
    }
  });
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** GET /members → the membership as JSON; null (not ready yet) → 503. */
export function membersAnswer(method: string, path: string, clusterInfo: () => unknown): HttpAnswer {
  if (path.split('?')[0] !== MEMBERS_PATH) return { status: 404, body: { error: 'not found' } };
  if (method !== 'GET') return { status: 405, body: { error: 'method not allowed' } };
  const info = clusterInfo();
  return info === null || info === undefined
    ? { status: 503, body: { error: 'membership not known yet' } }
    : { status: 200, body: info };
}

/** Reads one request head from `socket` (starting with `first`), answers it, and closes. */
export function serveHttp(
  socket: Socket,
  first: Buffer,
  graceMs: number,
  answer: (method: string, path: string) => HttpAnswer,
): void {
  let head = first;
  const timer = setTimeout(() => socket.destroy(), graceMs);
  socket.once('close', () => clearTimeout(timer));
  const respond = (a: HttpAnswer): void => {
    socket.removeAllListeners('data');
    const body = Buffer.from(JSON.stringify(a.body));
    socket.end(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? ''}\r\n` +
            'Content-Type: application/json\r\n' +
            `Content-Length: ${body.length}\r\n` +
            'Connection: close\r\n\r\n',
        ),
        body,
      ]),
    );
  };
  const tryAnswer = (): void => {
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_REQUEST_HEAD_BYTES)
        respond({ status: 431, body: { error: 'request head too large' } });
      return;
    }
    const [method = '', path = ''] = head.subarray(0, head.indexOf('\r\n')).toString('latin1').split(' ');
    let a: HttpAnswer;
    try {
      a = answer(method, path);
    } catch {
      a = { status: 503, body: { error: 'membership not available' } };
    }
    respond(a);
  };
  socket.on('data', (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    tryAnswer();
  });
  tryAnswer();
  socket.resume();
}
