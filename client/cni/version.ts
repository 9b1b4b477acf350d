// The CNI spec versions the plugin speaks and the version-dependent rules of the protocol. 0.1.0 and
// 0.2.0 (a different result shape with ip4/ip6 objects) are not supported: runtimes of that age are gone.

export const CURRENT_VERSION = '1.1.0';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export type SupportedVersion = (typeof SUPPORTED_VERSIONS)[number];

export function isSupportedVersion(version: string): version is SupportedVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/** Compares two supported versions by their position in the list (which is in semver order). */
export function atLeast(version: SupportedVersion, minimum: SupportedVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(version) >= SUPPORTED_VERSIONS.indexOf(minimum);
}

/** The lowest spec version that defines each command that takes a network config. */
export const MINIMUM_VERSION_OF = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
} as const satisfies Record<string, SupportedVersion>;
