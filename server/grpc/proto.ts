// Loads netcd's copies of etcd's .proto files (server/proto) once and hands out the gRPC service
// definitions. Decoding follows one convention everywhere: snake_case field names, 64-bit
// integers as decimal strings, enums by name, bytes as Buffer, unset scalars at their defaults.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GrpcObject, ServiceDefinition } from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type MethodDefinition, type PackageDefinition } from '@grpc/proto-loader';

export const PROTO_FILES = [
  'mvccpb/kv.proto',
  'authpb/auth.proto',
  'etcdserverpb/rpc.proto',
  'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto',
] as const;

export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
} as const;

/** The services netcd serves, by the name etcd's clients address them with. */
export const SERVICE_NAMES = {
  KV: 'etcdserverpb.KV',
  Watch: 'etcdserverpb.Watch',
  Lease: 'etcdserverpb.Lease',
  Cluster: 'etcdserverpb.Cluster',
  Maintenance: 'etcdserverpb.Maintenance',
  Auth: 'etcdserverpb.Auth',
  Lock: 'v3lockpb.Lock',
  Election: 'v3electionpb.Election',
} as const;

export type ServiceKey = keyof typeof SERVICE_NAMES;

/**
 * The folder holding the .proto files: beside this module's folder in a checkout
 * (server/grpc → server/proto), or back in the source tree when running from dist/.
 */
export function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../proto'), resolve(here, '../../../server/proto')];
  for (const dir of candidates) if (existsSync(join(dir, PROTO_FILES[2]))) return dir;
  throw new Error(`etcd .proto files not found (looked in ${candidates.join(', ')})`);
}

let packageDefinition: PackageDefinition | undefined;

/** The parsed protos, shared by the server and by clients built from them (tests, tools). */
export function etcdPackageDefinition(): PackageDefinition {
  packageDefinition ??= loadSync([...PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return packageDefinition;
}

/** grpc-js client constructors and message types, for callers that talk to netcd or etcd. */
export function etcdGrpcObject(): GrpcObject {
  return loadPackageDefinition(etcdPackageDefinition());
}

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
