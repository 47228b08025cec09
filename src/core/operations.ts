import type { Caller } from './caller';
import { NotFoundError, ValidationError } from './errors';
import type { WebhookManager } from './WebhookManager';
import { WEBHOOK_STATE_NAMES, type TypedEntry, type Webhook, type WebhookFilter, type WebhookInput, type WebhookResult, WebhookState } from './webhook';

/**
 * NetServer's eight WebhookAgent operations, once: their arguments (names, order, kinds), their
 * answers and quirks (GetWebhook of an unknown id is nil, GetLastError of one is ''), and the
 * small rules every door applies to what a client sends (int32 bounds, State names, the ticket in
 * an Authorization header). soap/ and rest/ only turn XML or JSON into these arguments and the
 * answers back into XML or JSON.
 */

export const OPERATION_NAMES = [
  'CreateDefaultWebhook', 'SaveWebhook', 'GetWebhook', 'GetAllWebhooks', 'DeleteWebhook', 'TestWebhook', 'SignalEvent', 'GetLastError',
] as const;
export type OperationName = (typeof OPERATION_NAMES)[number];

/** How a door reads one argument: a whole number, text, a WebhookState, the Webhook carrier, or a StringObjectDictionary. */
export type ArgumentKind = 'int32' | 'string' | 'state' | 'webhook' | 'typedEntries';

export interface ArgumentSpec {
  /** The SOAP request element's member name (NetServer's PascalCase). */
  name: string;
  kind: ArgumentKind;
}

/** The value each kind becomes. */
export interface ArgumentValues {
  int32: number;
  string: string | null;
  state: WebhookState;
  webhook: WebhookInput;
  typedEntries: TypedEntry[] | null;
}

export type Arguments = Map<string, ArgumentValues[ArgumentKind]>;

/** What an operation answers: a carrier, a list, a result, text, nothing (void) or nil. */
export interface OperationResults {
  CreateDefaultWebhook: Webhook;
  SaveWebhook: Webhook;
  GetWebhook: Webhook | null;
  GetAllWebhooks: Webhook[];
  DeleteWebhook: void;
  TestWebhook: WebhookResult;
  SignalEvent: void;
  GetLastError: string;
}

interface Operation<K extends OperationName> {
  arguments: readonly ArgumentSpec[];
  /** True when the answer is void (the SOAP response has no Response element; REST answers 204). */
  void: boolean;
  run(manager: WebhookManager, args: Arguments, caller: Caller): Promise<OperationResults[K]>;
}

const arg = (name: string, kind: ArgumentKind): ArgumentSpec => ({ name, kind });
const int = (args: Arguments, name: string) => (args.get(name) as number | undefined) ?? 0;
const webhook = (args: Arguments): WebhookInput => {
  const value = args.get('Webhook') as WebhookInput | undefined;
  if (!value) throw new ValidationError('The Webhook is missing: send the carrier from CreateDefaultWebhook with your changes.', 'Webhook');
  return value;
};

export const OPERATIONS: { [K in OperationName]: Operation<K> } = {
  CreateDefaultWebhook: { arguments: [], void: false, run: async (manager) => manager.createDefaultWebhook() },
  SaveWebhook: { arguments: [arg('Webhook', 'webhook')], void: false, run: (manager, args, caller) => manager.saveWebhook(webhook(args), caller) },
  // NetServer answers an unknown (or someone else's) id with a nil Response, not a fault.
  GetWebhook: { arguments: [arg('WebhookId', 'int32')], void: false, run: (manager, args, caller) => manager.getWebhook(int(args, 'WebhookId'), caller) },
  GetAllWebhooks: {
    arguments: [arg('NameFilter', 'string'), arg('EventFilter', 'string'), arg('StatusFilter', 'state')],
    void: false,
    run: (manager, args, caller) => manager.getAllWebhooks(filterOf(args), caller),
  },
  DeleteWebhook: { arguments: [arg('WebhookId', 'int32')], void: true, run: (manager, args, caller) => manager.deleteWebhook(int(args, 'WebhookId'), caller) },
  TestWebhook: { arguments: [arg('Webhook', 'webhook')], void: false, run: (manager, args, caller) => manager.testWebhook(webhook(args), caller) },
  SignalEvent: {
    arguments: [arg('EventName', 'string'), arg('PrimaryKey', 'int32'), arg('Data', 'typedEntries')],
    void: true,
    run: (manager, args, caller) =>
      manager.signalEvent((args.get('EventName') as string | null) ?? '', int(args, 'PrimaryKey'), (args.get('Data') as TypedEntry[] | null) ?? null, caller),
  },
  GetLastError: {
    arguments: [arg('WebhookId', 'int32')],
    void: false,
    run: async (manager, args, caller) => {
      try {
        return await manager.getLastError(int(args, 'WebhookId'), caller);
      } catch (error) {
        // NetServer answers an unknown id with an empty string, not a fault.
        if (error instanceof NotFoundError) return '';
        throw error;
      }
    },
  },
};

function filterOf(args: Arguments): WebhookFilter {
  return {
    nameFilter: (args.get('NameFilter') as string | null | undefined) ?? null,
    eventFilter: (args.get('EventFilter') as string | null | undefined) ?? null,
    statusFilter: (args.get('StatusFilter') as WebhookState | undefined) ?? WebhookState.Unknown,
  };
}

/** The operation by name in any case (REST paths), or undefined. */
export function operationNamed(name: string): OperationName | undefined {
  const lower = name.toLowerCase();
  return OPERATION_NAMES.find((operation) => operation.toLowerCase() === lower);
}

export function runOperation<K extends OperationName>(name: K, manager: WebhookManager, args: Arguments, caller: Caller): Promise<OperationResults[K]> {
  return OPERATIONS[name].run(manager, args, caller) as Promise<OperationResults[K]>;
}

// ---- the rules every door applies to what a client sends ------------------------------------

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

export function isInt32(value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

/** A whole number within xs:int, or a ValidationError naming the field. */
export function checkInt32(value: number, field: string, shown: string = String(value)): number {
  if (!isInt32(value)) throw new ValidationError(`${field} must be a whole number from ${INT32_MIN} to ${INT32_MAX} (xs:int), got ${JSON.stringify(shown.slice(0, 40))}.`, field);
  return value;
}

/** Whole-number text (an xs:int element, a query parameter) within xs:int. */
export function int32FromText(text: string, field: string): number {
  const trimmed = text.trim();
  if (!/^[+-]?\d+$/.test(trimmed)) checkInt32(NaN, field, text);
  return checkInt32(Number(trimmed), field, text);
}

/**
 * A WebhookState by name in any case ("Active", "active") or by number (1): the enum as
 * NetServer's REST layer reads it, applied on the SOAP door too. Blank: Unknown.
 */
export function parseWebhookState(value: string | number, field: string): WebhookState {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < WEBHOOK_STATE_NAMES.length) return value as WebhookState;
  } else {
    const text = value.trim();
    if (text === '') return WebhookState.Unknown;
    const number = /^\d+$/.test(text) ? Number(text) : NaN;
    if (number >= 0 && number < WEBHOOK_STATE_NAMES.length) return number as WebhookState;
    const index = WEBHOOK_STATE_NAMES.findIndex((name) => name.toLowerCase() === text.toLowerCase());
    if (index >= 0) return index as WebhookState;
  }
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value.slice(0, 40));
  throw new ValidationError(`${field} ${shown} is not a WebhookState; use ${WEBHOOK_STATE_NAMES.join(', ')} (or 0 to 3).`, field);
}

/** The ticket in `Authorization: SOTicket <ticket>` (NetServer's scheme) or `Bearer <ticket>`; null otherwise. */
export function ticketFromAuthorization(header: string | undefined): string | null {
  const match = header ? /^(?:Bearer|SOTicket)\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1] : null;
}
