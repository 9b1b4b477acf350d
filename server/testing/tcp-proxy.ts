// A TCP proxy on loopback standing between a member and its peers, for partition tests: `block`
// cuts every open connection and refuses new ones until `unblock`. Only ever forwards to a
// 127.0.0.1 port the test gave it.

import net from 'node:net';

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly targetPort: number;
  private blocked = false;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.server = net.createServer((inbound) => this.forward(inbound));
  }

  /** Listens on `listenPort` (0 = any free port) and forwards to 127.0.0.1:`targetPort`. */
  static async start(listenPort: number, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private forward(inbound: net.Socket): void {
    if (this.blocked) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }

  get isBlocked(): boolean {
    return this.blocked;
  }

  block(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
