// Field checks for values decoded from a peer's frames. Every stream protocol narrows `unknown`
// through these, so a malformed frame always surfaces as one BAD_FRAME error naming the field.

import { TransportError } from './errors.js';

export function badFrame(detail: string): TransportError {
  return new TransportError('BAD_FRAME', detail);
}

export function uintField(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw badFrame(`${field} is not a non-negative integer`);
  return v;
}

export function bytesField(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw badFrame(`${field} is not bytes`);
  return v;
}

export function boolField(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw badFrame(`${field} is not a boolean`);
  return v;
}

export function stringField(v: unknown, field: string, maxLength = 1024): string {
  if (typeof v !== 'string' || v.length > maxLength) throw badFrame(`${field} is not a string`);
  return v;
}

export function arrayField(v: unknown, field: string, length?: number): readonly unknown[] {
  if (!Array.isArray(v)) throw badFrame(`${field} is not an array`);
  if (length !== undefined && v.length !== length)
    throw badFrame(`${field} has ${v.length} fields, not ${length}`);
  return v;
}

export function recordField(v: unknown, field: string): Readonly<Record<string, unknown>> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array)
    throw badFrame(`${field} is not a map`);
  return v as Record<string, unknown>;
}
