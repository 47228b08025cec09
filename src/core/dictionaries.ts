import type { StringEntry, TypedEntry } from './webhook';

/** Dictionary entries as plain objects for payloads and HTTP headers; keys stay data (no prototype). */

export function propertiesToJson(properties: TypedEntry[] | null): Record<string, unknown> | null {
  if (!properties || properties.length === 0) return null;
  const result: Record<string, unknown> = Object.create(null);
  for (const entry of properties) result[entry.key] = entry.value;
  return result;
}

export function headersToRecord(headers: StringEntry[] | null): Record<string, string> | null {
  if (!headers || headers.length === 0) return null;
  const result: Record<string, string> = Object.create(null);
  for (const entry of headers) if (entry.value !== null) result[entry.key] = entry.value;
  return result;
}
