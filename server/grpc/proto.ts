// The gRPC service definitions the server registers: etcd's protos (server/proto/etcd.ts) with
// deserializers that remember each request's encoded size.

import type { ServiceDefinition } from '@grpc/grpc-js';
import type { MethodDefinition, PackageDefinition } from '@grpc/proto-loader';
import { etcdPackageDefinition, SERVICE_NAMES, type ServiceKey } from '../proto/etcd.js';

/** Encoded size of each decoded request, recorded by the server's deserializers. */
const wireSizes = new WeakMap<object, number>();

/** Bytes the request took on the wire (0 for an object that was not decoded by the server). */
export function wireBytes(request: object): number {
  return wireSizes.get(request) ?? 0;
}

const serverDefinitions = new Map<ServiceKey, ServiceDefinition>();

/**
 * A service definition for the server: the same methods, with deserializers that remember each
 * request's encoded size so the services can refuse oversized writes like etcd does.
 */
export function serviceDefinition(key: ServiceKey): ServiceDefinition {
  const cached = serverDefinitions.get(key);
  if (cached !== undefined) return cached;
  const raw = etcdPackageDefinition()[SERVICE_NAMES[key]];
  if (raw === undefined || !isServiceDefinition(raw))
    throw new Error(`service ${SERVICE_NAMES[key]} not in protos`);
  const wrapped: Record<string, MethodDefinition<object, object>> = {};
  for (const [name, method] of Object.entries(raw)) {
    const decode = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): object => {
        const message = decode(bytes);
        wireSizes.set(message, bytes.length);
        return message;
      },
    };
  }
  serverDefinitions.set(key, wrapped);
  return wrapped;
}

function isServiceDefinition(
  value: PackageDefinition[string],
): value is Record<string, MethodDefinition<object, object>> {
  return !('format' in value);
}
