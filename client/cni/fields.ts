// Typed reads of decoded JSON config with messages that name the field's path ("ipam.routes[2].gw"),
// so an operator can find the mistake in the file. Wrong values are CNI code 7, unknown keys code 2.

import { CNI_ERROR_CODES, CniError } from './errors.js';

export const invalidConfig = (message: string, details = '') =>
  new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, message, details);

/** The spec requires the message of code 2 to carry the key and the value. */
export const unsupportedField = (path: string, value: unknown) =>
  new CniError(CNI_ERROR_CODES.UNSUPPORTED_FIELD, `unsupported field ${path}: ${JSON.stringify(value)}`);

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function rejectUnknownKeys(obj: JsonObject, known: ReadonlySet<string>, path: string): void {
  for (const [key, value] of Object.entries(obj))
    if (!known.has(key)) throw unsupportedField(`${path}.${key}`, value);
}

export function optionalString(obj: JsonObject, key: string, path: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidConfig(`${path}.${key}: must be a string`);
  return value;
}

export function optionalStringArray(
  obj: JsonObject,
  key: string,
  path: string,
  maxItems: number,
): string[] | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw invalidConfig(`${path}.${key}: must be an array of strings`);
  if (value.length > maxItems) throw invalidConfig(`${path}.${key}: more than ${maxItems} entries`);
  return value as string[];
}

export function optionalInteger(
  obj: JsonObject,
  key: string,
  path: string,
  min: number,
  max: number,
): number | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw invalidConfig(`${path}.${key}: must be an integer from ${min} to ${max}`);
  return value;
}
