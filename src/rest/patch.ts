import { applyPatch, JsonPatchError, type Operation } from 'fast-json-patch';
import { badRequest, HttpError } from './errors';
import { canonicalMember, isJsonObject, resolveMembers, SYSTEM_MEMBERS, WEBHOOK_MEMBERS, type JsonObject, type JsonValue, type WebhookMember } from './carrierJson';

/**
 * PATCH of a Webhook's JSON document: JSON Patch (RFC 6902, applied by fast-json-patch) or
 * JSON Merge Patch (RFC 7396). Member names are matched case-insensitively, and so are Headers
 * names (HTTP header names are); Properties keys are data and match exactly. The patched
 * document then goes through the same input mapping as a PUT body.
 */

export const JSON_PATCH_TYPE = 'application/json-patch+json';
export const MERGE_PATCH_TYPE = 'application/merge-patch+json';

const OPS = new Set(['add', 'remove', 'replace', 'test', 'move', 'copy']);

const PATCH_ERRORS: Record<string, string> = {
  OPERATION_PATH_UNRESOLVABLE: 'its path does not exist in the webhook',
  OPERATION_FROM_UNRESOLVABLE: 'its from path does not exist in the webhook',
  OPERATION_PATH_CANNOT_ADD: 'nothing can be added at its path',
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: 'an array index must be a number or -',
  OPERATION_VALUE_OUT_OF_BOUNDS: 'the array index is past the end of the array',
  OPERATION_VALUE_REQUIRED: 'it needs a value',
  OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED: 'its value is not JSON',
  OPERATION_FROM_REQUIRED: 'it needs a from path',
};

function decodeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function encodeSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The pointer with its member (and a Headers name) in the document's spelling. */
function normalizePointer(pointer: unknown, document: JsonObject, where: string): { pointer: string; member: WebhookMember } {
  if (typeof pointer !== 'string' || !pointer.startsWith('/')) {
    throw badRequest(`${where} must be a JSON Pointer to a webhook member, e.g. /Name (the whole webhook is replaced with PUT).`);
  }
  const segments = pointer.slice(1).split('/').map(decodeSegment);
  const member = canonicalMember(segments[0]);
  if (!member) throw badRequest(`${where} ${JSON.stringify(pointer)} names no webhook member; the members are ${WEBHOOK_MEMBERS.join(', ')}.`, segments[0]);
  segments[0] = member;
  const headers = document.Headers;
  if (member === 'Headers' && segments.length > 1 && isJsonObject(headers)) {
    segments[1] = Object.keys(headers).find((name) => name.toLowerCase() === segments[1].toLowerCase()) ?? segments[1];
  }
  return { pointer: '/' + segments.map(encodeSegment).join('/'), member };
}

/** Applies an RFC 6902 patch to the document; a failed test -> 409, anything else malformed -> 400. */
export function applyJsonPatch(document: JsonObject, patch: unknown): JsonObject {
  if (!Array.isArray(patch)) throw badRequest('A JSON Patch body is an array of operations, e.g. [{"op": "replace", "path": "/Name", "value": "new name"}].');
  const operations = patch.map((raw, index): Operation => {
    const where = `Operation ${index}`;
    if (!isJsonObject(raw)) throw badRequest(`${where} is not an object with op and path.`);
    if (typeof raw.op !== 'string' || !OPS.has(raw.op)) throw badRequest(`${where} has op ${JSON.stringify(raw.op)}; use add, remove, replace, test, move or copy.`);
    const path = normalizePointer(raw.path, document, `${where}'s path`);
    if (raw.op !== 'test' && SYSTEM_MEMBERS.has(path.member)) {
      throw badRequest(`${where} changes ${path.member}, which is maintained by the service; only a test operation may name it.`, path.member);
    }
    const operation: Record<string, unknown> = { op: raw.op, path: path.pointer };
    if ('value' in raw) operation.value = raw.value;
    if (raw.op === 'move' || raw.op === 'copy') {
      const from = normalizePointer(raw.from, document, `${where}'s from`);
      if (raw.op === 'move' && SYSTEM_MEMBERS.has(from.member)) throw badRequest(`${where} moves ${from.member}, which is maintained by the service.`, from.member);
      operation.from = from.pointer;
    }
    return operation as unknown as Operation;
  });
  // Empty dictionaries read as null: let `add /Headers/X-Tenant` work on a webhook without Headers.
  const emptied = (['Headers', 'Properties'] as const).filter((member) => document[member] === null);
  for (const member of emptied) document[member] = Object.create(null) as JsonObject;
  try {
    // Validated, applied to our own fresh document, with __proto__ paths refused by the library.
    const patched = applyPatch(document, operations, true, true, true).newDocument;
    for (const member of emptied) {
      const value = patched[member];
      if (isJsonObject(value) && Object.keys(value).length === 0) patched[member] = null;
    }
    return patched;
  } catch (error) {
    if (error instanceof JsonPatchError) {
      const index = typeof error.index === 'number' ? error.index : 0;
      if (error.name === 'TEST_OPERATION_FAILED') {
        throw new HttpError(409, 'PatchTestFailed', `Operation ${index} (test ${operations[index]?.path}) failed: the webhook's value differs, so nothing was changed. Read it again and retry.`);
      }
      throw badRequest(`Operation ${index} (${operations[index]?.op} ${operations[index]?.path}) cannot be applied: ${PATCH_ERRORS[error.name] ?? 'it is not a valid JSON Patch operation'}. Nothing was changed.`);
    }
    if (error instanceof TypeError && /__proto__|prototype/.test(error.message)) {
      throw badRequest('A JSON Patch path may not name __proto__ or constructor/prototype; set such a Properties key with PUT or a merge patch.');
    }
    throw error;
  }
}

/** RFC 7396 merge of a patch value into a target; objects are built without a prototype. */
function merge(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = Object.create(null);
  if (isJsonObject(target)) for (const [key, value] of Object.entries(target)) result[key] = value;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = merge(result[key], value);
  }
  return result;
}

/** Applies an RFC 7396 merge patch: null removes a member (a removed carrier member reads as null). */
export function applyMergePatch(document: JsonObject, patch: unknown): JsonObject {
  if (!isJsonObject(patch)) throw badRequest('A merge patch body is a JSON object of the members to change, e.g. {"Name": "new name"}.');
  const members = resolveMembers(patch, WEBHOOK_MEMBERS, 'The merge patch');
  const result: JsonObject = { ...document };
  for (const [member, value] of members) {
    let change = value;
    const headers = document.Headers;
    if (member === 'Headers' && isJsonObject(value) && isJsonObject(headers)) {
      // Header names match case-insensitively: {"x-tenant": ...} changes an existing X-Tenant.
      change = Object.create(null) as JsonObject;
      for (const [name, headerValue] of Object.entries(value)) {
        (change as JsonObject)[Object.keys(headers).find((existing) => existing.toLowerCase() === name.toLowerCase()) ?? name] = headerValue;
      }
    }
    result[member] = change === null ? null : merge(document[member], change);
  }
  return result;
}
