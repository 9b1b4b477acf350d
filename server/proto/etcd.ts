// The etcd v3 wire API: netcd's copies of etcd's .proto files (this folder), loaded once.
// Decoding follows one convention everywhere: snake_case field names, 64-bit integers as decimal
// strings, enums by name, bytes as Buffer, unset scalars at their defaults. The server, the client
// library and the tools all load the protos through this module and nothing else of the server.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GrpcObject } from '@grpc/grpc-js';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

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
 * The folder holding the .proto files: this module's own folder in a checkout, or back in the
 * source tree when running from dist/.
 */
export function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, resolve(here, '../../../server/proto')];
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
