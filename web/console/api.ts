/** The REST API as the console uses it: the ticket from sessionStorage as a Bearer header; no cookies. */

const TICKET_KEY = 'webhook-agent.ticket';

export const storedTicket = (): string | null => sessionStorage.getItem(TICKET_KEY);
export const storeTicket = (ticket: string): void => sessionStorage.setItem(TICKET_KEY, ticket);
export const forgetTicket = (): void => sessionStorage.removeItem(TICKET_KEY);

export type WebhookState = 'Unknown' | 'Active' | 'Stopped' | 'TooManyErrors';

export interface Webhook {
  WebhookId: number;
  Name: string | null;
  Events: string[];
  TargetUrl: string | null;
  Secret: string | null;
  State: WebhookState;
  Type: string | null;
  Headers: Record<string, string> | null;
  Properties: Record<string, unknown> | null;
  Registered: string | null;
  Updated: string | null;
  ErrorsEmail: string | null;
  Description: string | null;
  TotalCalls: number;
  TotalErrors: number;
  ConsecutiveErrors: number;
  LastError: string | null;
}

export type DeliveryStatus = 'pending' | 'held' | 'succeeded' | 'failed' | 'cancelled';

export interface Delivery {
  DeliveryId: string;
  WebhookId: number;
  EventId: string;
  EventName: string;
  PrimaryKey: number;
  Status: DeliveryStatus;
  Cycle: number;
  Attempts: number;
  Created: string;
  Completed: string | null;
  NextAttempt: string | null;
  LastError: string | null;
}

export interface Attempt {
  AttemptId: string;
  Cycle: number;
  AttemptNumber: number;
  AttemptedAt: string;
  Outcome: 'succeeded' | 'failed' | 'unknown';
  HttpStatus: number | null;
  Error: string | null;
  LatencyMs: number | null;
  ResponseBody: string | null;
  HeadersSent: Record<string, string>;
}

export interface DeliveryDetail extends Delivery {
  AttemptLog: Attempt[];
}

export interface Counts {
  Attempts: number;
  Successes: number;
  Failures: number;
  LatencyP50Ms: number | null;
  LatencyP95Ms: number | null;
}

export interface Statistics extends Counts {
  Since: string;
  Until: string;
  BucketSeconds: number;
  Buckets: Array<Counts & { Start: string }>;
}

/** An error answer of the API: its message is written for the operator. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    readonly field: string | null,
  ) {
    super(message);
  }
}

/** Called when the API refuses the ticket (401): the console signs out and says why. */
let onUnauthorized: (message: string) => void = () => undefined;
export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

export async function api<T>(method: string, path: string, body?: unknown, contentType = 'application/json', ticket = storedTicket()): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (ticket) headers.authorization = `Bearer ${ticket}`;
  if (body !== undefined) headers['content-type'] = contentType;
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NetworkError', 'The service did not answer; check that it is running, then try again.', null);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json ?? {}) as { ErrorType?: string; Message?: string; Field?: string };
    const failure = new ApiError(response.status, error.ErrorType ?? 'Error', error.Message ?? `The service answered HTTP ${response.status}.`, error.Field ?? null);
    if (response.status === 401 && ticket !== null && ticket === storedTicket()) onUnauthorized(failure.message);
    throw failure;
  }
  return json as T;
}

export const query = (params: Record<string, string | number | null | undefined>): string => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
};
