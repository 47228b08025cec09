/**
 * One small adapter per door (SOAP through node-soap's client, the REST resource routes, the
 * Agents RPC routes), so a scenario is written once and its outcomes compared across doors.
 * Each adapter returns the same normalized view of a webhook and of an error.
 */
import type * as soap from 'soap';
import { call, createSoapClient } from '../support/soapClient';

export type Scalar = string | number | boolean | null;

/** What a scenario sends: the carrier in REST's JSON shape (each adapter converts it). */
export interface WebhookSpec {
  WebhookId?: number;
  Name?: string | null;
  Events?: string[];
  TargetUrl?: string | null;
  Secret?: string | null;
  State?: 'Active' | 'Stopped' | 'TooManyErrors' | 'Unknown';
  Type?: string;
  Headers?: Record<string, string> | null;
  Properties?: Record<string, Scalar> | null;
  ErrorsEmail?: string | null;
  Description?: string | null;
}

/** What every door answers, normalized (dates as epoch ms, associates as id + name). */
export interface WebhookView {
  WebhookId: number;
  Name: string | null;
  Events: string[];
  TargetUrl: string | null;
  Secret: string | null;
  State: string;
  Type: string | null;
  Headers: Record<string, string> | null;
  Properties: Record<string, Scalar> | null;
  Registered: number | null;
  RegisteredAssociate: { AssociateId: number; Name: string } | null;
  Updated: number | null;
  UpdatedAssociate: { AssociateId: number; Name: string } | null;
  ErrorsEmail: string | null;
  Description: string | null;
  TotalCalls: number;
  TotalErrors: number;
  ConsecutiveErrors: number;
  LastError: string | null;
}

export interface DoorError {
  /** The core error name (ValidationError, NotFoundError, ...), or the door's own for transport problems. */
  type: string;
  message: string;
  field: string | null;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: DoorError };

export interface Filter {
  NameFilter?: string;
  EventFilter?: string;
  StatusFilter?: string;
}

export type PatchOperation = { op: string; path: string; value?: unknown; from?: string };

export interface Door {
  name: string;
  createDefault(): Promise<Outcome<WebhookView>>;
  save(spec: WebhookSpec): Promise<Outcome<WebhookView>>;
  get(id: number): Promise<Outcome<WebhookView | null>>;
  list(filter: Filter): Promise<Outcome<WebhookView[]>>;
  /** RFC 7396 through REST; read-merge-save through doors that have no PATCH. */
  mergePatch(id: number, patch: Record<string, unknown>): Promise<Outcome<WebhookView>>;
  /** RFC 6902 through REST; read-apply-save through doors that have no PATCH. */
  jsonPatch(id: number, operations: PatchOperation[]): Promise<Outcome<WebhookView>>;
  test(spec: WebhookSpec): Promise<Outcome<{ Success: boolean; Message: string }>>;
  signal(eventName: string, primaryKey: number, data: Record<string, Scalar> | null): Promise<Outcome<null>>;
  lastError(id: number): Promise<Outcome<string>>;
  delete(id: number): Promise<Outcome<null>>;
  /** The same door with another ticket (null: none). */
  withTicket(ticket: string | null): Promise<Door>;
}

const ms = (value: unknown): number | null => {
  if (value === null || value === undefined || value === '') return null;
  const time = new Date(value as string).getTime();
  // .NET's DateTime.MinValue (0001-01-01) is SOAP's "never".
  return Number.isNaN(time) || time < 0 ? null : time;
};
const associate = (value: any) => (value ? { AssociateId: Number(value.AssociateId), Name: String(value.Name) } : null);

// ---- REST (resource routes and Agents RPC) -----------------------------------------------

/** Statuses the REST door must use for each error type; an adapter checks every error it sees. */
export const REST_STATUS: Record<string, number> = {
  ValidationError: 400,
  VerificationFailedError: 400,
  BadRequest: 400,
  MalformedJson: 400,
  UnauthorizedError: 401,
  NotFoundError: 404,
  NotFound: 404,
  PatchTestFailed: 409,
  ConflictError: 409,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InternalError: 500,
  NotImplementedError: 501,
};

export interface RestResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export type RestFetch = (method: string, path: string, options?: { body?: unknown; rawBody?: string; contentType?: string; headers?: Record<string, string> }) => Promise<RestResponse>;

/** A fetch against /api/v1 with a ticket; `onResponse` sees every answer (the OpenAPI check hooks in there). */
export function restFetch(baseUrl: string, ticket: string | null, onResponse?: (method: string, path: string, response: RestResponse) => void): RestFetch {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...(ticket ? { authorization: `Bearer ${ticket}` } : {}), ...options.headers };
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] ??= options.contentType ?? 'application/json';
    const response = await fetch(`${baseUrl}/api/v1${path}`, { method, headers, body });
    const text = await response.text();
    const result: RestResponse = { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
    onResponse?.(method, path, result);
    return result;
  };
}

function restView(json: any): WebhookView {
  return {
    ...json,
    Registered: ms(json.Registered),
    Updated: ms(json.Updated),
    RegisteredAssociate: associate(json.RegisteredAssociate),
    UpdatedAssociate: associate(json.UpdatedAssociate),
  };
}

function restOutcome<T>(response: RestResponse, okStatus: number, map: (json: any) => T): Outcome<T> {
  if (response.status === okStatus) return { ok: true, value: map(response.json) };
  const body = response.json;
  if (!body || body.Error !== true) throw new Error(`REST answered ${response.status} without the error shape: ${response.text.slice(0, 300)}`);
  if (REST_STATUS[body.ErrorType] !== response.status) {
    throw new Error(`REST answered ${body.ErrorType} with HTTP ${response.status}; expected ${REST_STATUS[body.ErrorType]}`);
  }
  return { ok: false, error: { type: body.ErrorType, message: body.Message, field: body.Field ?? null } };
}

/** The resource routes' 404 for an unknown id, seen as the SOAP door's answer (null / "") so outcomes compare. */
function notFoundAs<T>(outcome: Outcome<T>, value: T): Outcome<T> {
  return !outcome.ok && outcome.error.type === 'NotFoundError' ? { ok: true, value } : outcome;
}

export function restDoor(baseUrl: string, ticket: string | null, onResponse?: Parameters<typeof restFetch>[2]): Door {
  const api = restFetch(baseUrl, ticket, onResponse);
  return {
    name: 'REST',
    createDefault: async () => restOutcome(await api('GET', '/Webhook/default'), 200, restView),
    save: async (spec) => {
      const response = await api('POST', '/Webhook', { body: spec });
      return restOutcome(response, spec.WebhookId ? 200 : 201, restView);
    },
    get: async (id) => notFoundAs(restOutcome(await api('GET', `/Webhook/${id}`), 200, restView), null),
    list: async (filter) => {
      const query = new URLSearchParams(Object.entries(filter).map(([k, v]): [string, string] => [k.charAt(0).toLowerCase() + k.slice(1), String(v)]));
      return restOutcome(await api('GET', `/Webhook?${query}`), 200, (json) => json.map(restView));
    },
    mergePatch: async (id, patch) => restOutcome(await api('PATCH', `/Webhook/${id}`, { body: patch, contentType: 'application/merge-patch+json' }), 200, restView),
    jsonPatch: async (id, operations) => restOutcome(await api('PATCH', `/Webhook/${id}`, { body: operations, contentType: 'application/json-patch+json' }), 200, restView),
    test: async (spec) => restOutcome(await api('POST', '/Webhook/Test', { body: spec }), 200, (json) => json),
    signal: async (eventName, primaryKey, data) =>
      restOutcome(await api('POST', `/Webhook/${encodeURIComponent(eventName)}/${primaryKey}`, data === null ? {} : { body: data }), 204, () => null),
    lastError: async (id) => notFoundAs(restOutcome(await api('GET', `/Webhook/${id}/LastError`), 200, (json) => json as string), ''),
    delete: async (id) => restOutcome(await api('DELETE', `/Webhook/${id}`), 204, () => null),
    withTicket: async (other) => restDoor(baseUrl, other, onResponse),
  };
}

/** Read-modify-save: how a client of a door without PATCH changes part of a webhook. */
async function patchBySaving(door: Door, id: number, change: (current: Record<string, unknown>) => Record<string, unknown>): Promise<Outcome<WebhookView>> {
  const current = await door.get(id);
  if (!current.ok) return current;
  if (!current.value) return { ok: false, error: { type: 'NotFoundError', message: `There is no webhook with WebhookId ${id}`, field: null } };
  const { WebhookId, Name, Events, TargetUrl, Secret, State, Type, Headers, Properties, ErrorsEmail, Description } = current.value;
  const spec = change(structuredClone({ WebhookId, Name, Events, TargetUrl, Secret, State, Type, Headers, Properties, ErrorsEmail, Description }));
  return door.save(spec as WebhookSpec);
}

/** RFC 7396 on a plain object, for the doors without PATCH. */
function mergeInto(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergeInto(result[key], value);
  }
  return result;
}

/** add/replace/remove by plain pointer (no escapes), for the doors without PATCH; the scenarios use no test ops there. */
function applyOperations(doc: any, operations: PatchOperation[]): any {
  for (const { op, path, value } of operations) {
    const segments = path.slice(1).split('/');
    const last = segments.pop()!;
    const parent = segments.reduce((node, segment) => (node[segment] ??= {}), doc);
    if (op === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (Array.isArray(parent)) {
      if (last === '-') parent.push(value);
      else if (op === 'add') parent.splice(Number(last), 0, value);
      else parent[Number(last)] = value;
    } else {
      parent[last] = value;
    }
  }
  return doc;
}

export function agentsDoor(baseUrl: string, ticket: string | null, onResponse?: Parameters<typeof restFetch>[2]): Door {
  const api = restFetch(baseUrl, ticket, onResponse);
  const rpc = (method: string, args?: unknown) => api('POST', `/Agents/Webhook/${method}`, args === undefined ? {} : { body: args });
  const door: Door = {
    name: 'Agents',
    createDefault: async () => restOutcome(await rpc('CreateDefaultWebhook'), 200, restView),
    save: async (spec) => restOutcome(await rpc('SaveWebhook', { Webhook: spec }), 200, restView),
    get: async (id) => restOutcome(await rpc('GetWebhook', { WebhookId: id }), 200, (json) => (json === null ? null : restView(json))),
    list: async (filter) => restOutcome(await rpc('GetAllWebhooks', filter), 200, (json) => json.map(restView)),
    mergePatch: (id, patch) => patchBySaving(door, id, (current) => mergeInto(current, patch)),
    jsonPatch: (id, operations) => patchBySaving(door, id, (current) => applyOperations(current, operations)),
    test: async (spec) => restOutcome(await rpc('TestWebhook', { Webhook: spec }), 200, (json) => json),
    signal: async (EventName, PrimaryKey, Data) => restOutcome(await rpc('SignalEvent', { EventName, PrimaryKey, Data }), 204, () => null),
    lastError: async (id) => restOutcome(await rpc('GetLastError', { WebhookId: id }), 200, (json) => json as string),
    delete: async (id) => restOutcome(await rpc('DeleteWebhook', { WebhookId: id }), 204, () => null),
    withTicket: async (other) => agentsDoor(baseUrl, other, onResponse),
  };
  return door;
}

// ---- SOAP ------------------------------------------------------------------------------

const XSD: Record<string, string> = { string: 'xs:string', boolean: 'xs:boolean', number: 'xs:double' };

function soapWebhook(spec: WebhookSpec): Record<string, unknown> {
  const result: Record<string, unknown> = { WebhookId: spec.WebhookId ?? 0 };
  // node-soap writes members in the order given: keep the WSDL's sequence.
  if (spec.Name !== undefined) result.Name = spec.Name;
  if (spec.Events !== undefined) result.Events = { string: spec.Events };
  if (spec.TargetUrl !== undefined) result.TargetUrl = spec.TargetUrl;
  if (spec.Secret !== undefined) result.Secret = spec.Secret;
  if (spec.State !== undefined) result.State = spec.State;
  if (spec.Type !== undefined) result.Type = spec.Type;
  if (spec.Headers) result.Headers = { StringKeyValuePair: Object.entries(spec.Headers).map(([Key, Value]) => ({ Key, Value })) };
  if (spec.Properties) {
    result.Properties = {
      StringObjectKeyValuePair: Object.entries(spec.Properties).map(([Key, value]) => ({
        Key,
        Value:
          value === null
            ? { attributes: { 'xsi:nil': 'true' } }
            : { attributes: { 'xsi:type': typeof value === 'number' && Number.isInteger(value) ? 'xs:int' : XSD[typeof value] }, $value: value },
      })),
    };
  }
  if (spec.ErrorsEmail !== undefined) result.ErrorsEmail = spec.ErrorsEmail;
  if (spec.Description !== undefined) result.Description = spec.Description;
  return result;
}

const list = (value: any): any[] => (value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]);

function typedScalar(value: any): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return value;
  if (value.attributes && Object.entries(value.attributes).some(([k, v]) => /nil$/.test(k) && String(v) === 'true')) return null;
  const type = String(Object.entries(value.attributes ?? {}).find(([k]) => /(^|:)type$/.test(k))?.[1] ?? 'xs:string').split(':').pop();
  const raw = value.$value ?? '';
  if (type === 'boolean') return raw === true || raw === 'true';
  if (['int', 'long', 'short', 'double', 'float', 'decimal'].includes(type!)) return Number(raw);
  if (type === 'dateTime') return new Date(raw).toISOString();
  return String(raw);
}

function soapView(w: any): WebhookView {
  const headers = w.Headers ? Object.fromEntries(list(w.Headers.StringKeyValuePair).map((p: any) => [p.Key, p.Value ?? ''])) : null;
  const properties = w.Properties ? Object.fromEntries(list(w.Properties.StringObjectKeyValuePair).map((p: any) => [p.Key, typedScalar(p.Value)])) : null;
  return {
    WebhookId: Number(w.WebhookId),
    Name: w.Name ?? null,
    Events: list(w.Events?.string).map(String),
    TargetUrl: w.TargetUrl ?? null,
    Secret: w.Secret ?? null,
    State: w.State,
    Type: w.Type ?? null,
    Headers: headers,
    Properties: properties,
    Registered: ms(w.Registered),
    RegisteredAssociate: associate(w.RegisteredAssociate),
    Updated: ms(w.Updated),
    UpdatedAssociate: associate(w.UpdatedAssociate),
    ErrorsEmail: w.ErrorsEmail ?? null,
    Description: w.Description ?? null,
    TotalCalls: Number(w.TotalCalls ?? 0),
    TotalErrors: Number(w.TotalErrors ?? 0),
    ConsecutiveErrors: Number(w.ConsecutiveErrors ?? 0),
    LastError: w.LastError ?? null,
  };
}

/** node-soap's answer or fault as an outcome; the fault's ExceptionType is the core error name. */
async function soapOutcome<T>(promise: Promise<[any, string, any]>, map: (response: any) => T): Promise<Outcome<T>> {
  try {
    const [result] = await promise;
    return { ok: true, value: map(result?.Response) };
  } catch (error: any) {
    const fault = error?.root?.Envelope?.Body?.Fault;
    if (!fault) throw error;
    const info = fault.detail?.SoExceptionInfo ?? {};
    const field = list(info.Parameters?.SoExceptionInfoParametersKeyValuePair).find((p: any) => p.Key === 'Field')?.Value ?? null;
    // The SOAP door's name for an oversized body, as REST names it.
    const type = info.ExceptionType === 'RequestTooLarge' ? 'PayloadTooLarge' : info.ExceptionType;
    return { ok: false, error: { type, message: fault.faultstring, field } };
  }
}

export async function soapDoor(wsdlUrl: string, endpoint: string, ticket: string | null): Promise<Door> {
  const client: soap.Client = await createSoapClient(wsdlUrl, endpoint, ticket ?? undefined);
  const door: Door = {
    name: 'SOAP',
    createDefault: () => soapOutcome(call(client, 'CreateDefaultWebhook', {}), soapView),
    save: (spec) => soapOutcome(call(client, 'SaveWebhook', { Webhook: soapWebhook(spec) }), soapView),
    get: (id) => soapOutcome(call(client, 'GetWebhook', { WebhookId: id }), (r) => (r ? soapView(r) : null)),
    list: (filter) => soapOutcome(call(client, 'GetAllWebhooks', filter), (r) => list(r?.Webhook).map(soapView)),
    mergePatch: (id, patch) => patchBySaving(door, id, (current) => mergeInto(current, patch)),
    jsonPatch: (id, operations) => patchBySaving(door, id, (current) => applyOperations(current, operations)),
    test: (spec) => soapOutcome(call(client, 'TestWebhook', { Webhook: soapWebhook(spec) }), (r) => ({ Success: r.Success === true || r.Success === 'true', Message: r.Message ?? '' })),
    signal: (EventName, PrimaryKey, data) =>
      soapOutcome(
        call(client, 'SignalEvent', { EventName, PrimaryKey, ...(data ? { Data: (soapWebhook({ Properties: data }) as any).Properties } : {}) }),
        () => null,
      ),
    lastError: (id) => soapOutcome(call(client, 'GetLastError', { WebhookId: id }), (r) => (typeof r === 'string' ? r : '')),
    delete: (id) => soapOutcome(call(client, 'DeleteWebhook', { WebhookId: id }), () => null),
    withTicket: (other) => soapDoor(wsdlUrl, endpoint, other),
  };
  return door;
}

// ---- SuperOffice's own client: @superoffice/webapi's WebhookAgent ------------------------

/** The WebhookAgent's carrier (camelCase members, enums by name) from a scenario's spec. */
function webapiCarrier(spec: WebhookSpec): Record<string, unknown> {
  const carrier: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(spec)) carrier[key.charAt(0).toLowerCase() + key.slice(1)] = member;
  carrier.webhookId ??= 0;
  return carrier;
}

function webapiView(w: any): WebhookView {
  return {
    WebhookId: w.webhookId,
    Name: w.name ?? null,
    Events: w.events ?? [],
    TargetUrl: w.targetUrl ?? null,
    Secret: w.secret ?? null,
    State: w.state,
    Type: w.type ?? null,
    Headers: w.headers ?? null,
    Properties: w.properties ?? null,
    // The client reads dates into Date objects; 0001-01-01 (never) is before 1970.
    Registered: ms(w.registered?.toISOString()),
    RegisteredAssociate: w.registeredAssociate ? { AssociateId: w.registeredAssociate.associateId, Name: w.registeredAssociate.name } : null,
    Updated: ms(w.updated?.toISOString()),
    UpdatedAssociate: w.updatedAssociate ? { AssociateId: w.updatedAssociate.associateId, Name: w.updatedAssociate.name } : null,
    ErrorsEmail: w.errorsEmail ?? null,
    Description: w.description ?? null,
    TotalCalls: w.totalCalls,
    TotalErrors: w.totalErrors,
    ConsecutiveErrors: w.consecutiveErrors,
    LastError: w.lastError ?? null,
  };
}

/** The client's call as an outcome; its errors are axios errors carrying our REST error body. */
async function webapiOutcome<T>(promise: Promise<any>, map: (value: any) => T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: map(await promise) };
  } catch (error: any) {
    const response = error?.response;
    if (!response) throw error;
    const body = response.data;
    if (!body || body.Error !== true) throw new Error(`the WebhookAgent got HTTP ${response.status} without the error shape: ${JSON.stringify(body).slice(0, 300)}`);
    if (REST_STATUS[body.ErrorType] !== response.status) throw new Error(`REST answered ${body.ErrorType} with HTTP ${response.status}; expected ${REST_STATUS[body.ErrorType]}`);
    return { ok: false, error: { type: body.ErrorType, message: body.Message, field: body.Field ?? null } };
  }
}

/**
 * SuperOffice's generated TypeScript client, unchanged, pointed at our /api/ (or a tenant's
 * /{ContextIdentifier}/api/): `baseUrl` is what precedes `api/`.
 */
export function webapiDoor(baseUrl: string, ticket: string | null): Door {
  // Loaded on first use: the package is large, and only this door needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WebhookAgent } = require('@superoffice/webapi') as typeof import('@superoffice/webapi');
  const agent = new WebhookAgent(`${baseUrl}/api/`, { headers: ticket ? { Authorization: `SOTicket ${ticket}` } : {} });
  const door: Door = {
    name: 'webapi',
    createDefault: () => webapiOutcome(agent.createDefaultWebhookAsync(), webapiView),
    save: (spec) => webapiOutcome(agent.saveWebhookAsync(webapiCarrier(spec) as any), webapiView),
    get: (id) => webapiOutcome(agent.getWebhookAsync(id), (w) => (w ? webapiView(w) : null)),
    list: (filter) => webapiOutcome(agent.getAllWebhooksAsync(filter.NameFilter as string, filter.EventFilter as string, filter.StatusFilter as any), (list) => list.map(webapiView)),
    mergePatch: (id, patch) => patchBySaving(door, id, (current) => mergeInto(current, patch)),
    jsonPatch: (id, operations) => patchBySaving(door, id, (current) => applyOperations(current, operations)),
    test: (spec) => webapiOutcome(agent.testWebhookAsync(webapiCarrier(spec) as any), (r) => ({ Success: r.success, Message: r.message })),
    signal: (eventName, primaryKey, data) => webapiOutcome(agent.signalEventAsync(eventName, primaryKey, data as any), () => null),
    lastError: (id) => webapiOutcome(agent.getLastErrorAsync(id), (text) => text as string),
    delete: (id) => webapiOutcome(agent.deleteWebhookAsync(id), () => null),
    withTicket: async (other) => webapiDoor(baseUrl, other),
  };
  return door;
}
