// Builds the gRPC server that serves etcd's client API for one member: every service, message
// size limits like etcd's (the request limit plus a fixed overhead for the transport, so a request
// slightly too large is still read and refused with etcd's own error), and a hook that sees every
// call's method and final status for metrics.

import {
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Member } from '../api.js';
import type { ServiceKey } from '../proto/etcd.js';
import { statusName } from './errors.js';
import { serviceDefinition } from './proto.js';
import { authService } from './services/auth.js';
import { clusterService } from './services/cluster.js';
import { electionService } from './services/election.js';
import { kvService } from './services/kv.js';
import { leaseService } from './services/lease.js';
import { lockService } from './services/lock.js';
import { maintenanceService } from './services/maintenance.js';
import { type WatchServiceOptions, watchService } from './services/watch.js';

/** etcd's grpcOverheadBytes: room for the transport framing around a request of the maximum size. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

export interface GrpcServerOptions {
  /** Added to member.maxRequestBytes to get the transport's receive limit. Default 512 KiB. */
  readonly overheadBytes?: number;
  /** Largest message the server sends. Default 2^31 - 1 (etcd's). */
  readonly maxSendMessageBytes?: number;
  /**
   * Called once per finished call with "package.Service/Method" and Go's name of the final status
   * code ("OK", "InvalidArgument", "Canceled", ...), the labels of etcd's gRPC metrics.
   */
  readonly onRequest?: (method: string, code: string) => void;
  readonly watch?: WatchServiceOptions;
}

const MAX_INT32 = 2 ** 31 - 1;

export function createGrpcServer(member: Member, options: GrpcServerOptions = {}): Server {
  const interceptors: ServerInterceptor[] = [];
  if (options.onRequest !== undefined) interceptors.push(countingInterceptor(options.onRequest));
  const server = new Server({
    'grpc.max_receive_message_length':
      member.maxRequestBytes + (options.overheadBytes ?? GRPC_OVERHEAD_BYTES),
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? MAX_INT32,
    interceptors,
  });
  const services: Record<ServiceKey, UntypedServiceImplementation> = {
    KV: kvService(member),
    Watch: watchService(member, options.watch),
    Lease: leaseService(member),
    Cluster: clusterService(member),
    Maintenance: maintenanceService(member),
    Auth: authService(member),
    Lock: lockService(member),
    Election: electionService(member),
  };
  for (const [key, implementation] of Object.entries(services) as [
    ServiceKey,
    UntypedServiceImplementation,
  ][]) {
    server.addService(serviceDefinition(key), implementation);
  }
  return server;
}

/** Binds `server` to host:port (port 0 picks a free one), without TLS; resolves with the port. */
export function bindGrpcServer(server: Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) =>
      err === null ? resolve(port) : reject(err),
    );
  });
}

/** Stops accepting calls and waits for running ones; after `graceMs`, cancels what is left. */
export function shutdownGrpcServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

function countingInterceptor(onRequest: (method: string, code: string) => void): ServerInterceptor {
  return (descriptor, call: ServerInterceptingCallInterface) => {
    const method = descriptor.path.startsWith('/') ? descriptor.path.slice(1) : descriptor.path;
    let counted = false;
    const count = (code: string): void => {
      if (counted) return;
      counted = true;
      try {
        onRequest(method, code);
      } catch {
        // A metrics hook must never break the call it observes.
      }
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => count(statusName(1)) }),
      sendStatus: (status, next) => {
        count(statusName(status.code));
        next(status);
      },
    });
  };
}
