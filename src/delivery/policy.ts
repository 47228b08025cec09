/**
 * What an attempt's result means for its delivery and its webhook (SPEC section 5). Pure: no
 * database, no clock; the worker applies the decisions through the statements in sql/.
 */
import { WebhookState } from '../core/webhook';

export interface DeliveryPolicy {
  /** Waits between attempts: NetServer's cycle is attempt, 1 s, attempt, 4 s, attempt. */
  retryScheduleMs: number[];
  /** Consecutive errors at which a webhook becomes TooManyErrors. */
  consecutiveErrorLimit: number;
}

export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([1000, 4000]);
export const DEFAULT_CONSECUTIVE_ERROR_LIMIT = 9;

export interface AttemptResult {
  status: number | null;
  /** Network error or timeout text; null when a response was read. */
  error: string | null;
}

export type Outcome = 'success' | 'failure' | 'gone';

/** Any 2xx without error is success; 410 Gone stops the webhook; anything else (3xx too, redirects are not followed) fails. */
export function classify(result: AttemptResult): Outcome {
  if (result.error === null && result.status !== null && result.status >= 200 && result.status < 300) return 'success';
  if (result.error === null && result.status === 410) return 'gone';
  return 'failure';
}

export type DeliveryStep = { kind: 'succeeded' } | { kind: 'retry'; delayMs: number } | { kind: 'failed' };

/** After attempt `attemptNumber` (1-based) with `outcome`: done, wait and retry, or give up. */
export function nextStep(attemptNumber: number, outcome: Outcome, policy: DeliveryPolicy): DeliveryStep {
  if (outcome === 'success') return { kind: 'succeeded' };
  const delayMs = policy.retryScheduleMs[attemptNumber - 1];
  return delayMs === undefined ? { kind: 'failed' } : { kind: 'retry', delayMs };
}

/** LastError text for a failed attempt. */
export function describeFailure(result: AttemptResult & { statusLine?: string | null }): string {
  if (result.error !== null) return result.error;
  return `the target answered ${result.statusLine ?? `HTTP ${result.status}`}`;
}

export interface CounterDelta {
  calls: number;
  errors: number;
  /** A success in the batch resets ConsecutiveErrors before the trailing failures count. */
  resets: boolean;
  /** Failures after the last success (or all of them without one). */
  trailingFailures: number;
  /** Trailing failures of probes (sent while the webhook was failing): with the first failure, only these count (queue.addWebhookCounters). */
  trailingProbeFailures: number;
  gone: boolean;
  lastError: string | null;
}

/** One webhook's counter changes from its outcomes in completion order (applied as one atomic SQL update). */
export function counterDelta(outcomes: Array<{ outcome: Outcome; errorText: string | null; probe?: boolean }>): CounterDelta {
  const delta: CounterDelta = { calls: 0, errors: 0, resets: false, trailingFailures: 0, trailingProbeFailures: 0, gone: false, lastError: null };
  for (const { outcome, errorText, probe } of outcomes) {
    delta.calls += 1;
    if (outcome === 'success') {
      delta.resets = true;
      delta.trailingFailures = 0;
      delta.trailingProbeFailures = 0;
      continue;
    }
    delta.errors += 1;
    delta.trailingFailures += 1;
    if (probe) delta.trailingProbeFailures += 1;
    delta.lastError = errorText;
    if (outcome === 'gone') delta.gone = true;
  }
  return delta;
}

/**
 * How long a failing webhook waits before its next probe, after a probe's cycle failed: the
 * cycle's last wait, so consecutive errors accrue at the pace of NetServer's serial cycle.
 */
export function probePauseMs(policy: DeliveryPolicy): number {
  return policy.retryScheduleMs[policy.retryScheduleMs.length - 1] ?? 0;
}

/** An Active webhook trips to TooManyErrors on 410 Gone or at the consecutive error limit. */
export function shouldTrip(consecutiveErrors: number, gone: boolean, policy: DeliveryPolicy): boolean {
  return gone || consecutiveErrors >= policy.consecutiveErrorLimit;
}

/** The event a state change emits: webhook{ID}.started / .stopped / .errors. */
export function stateChangeEventName(webhookId: number, to: WebhookState): string | null {
  const suffix = stateChangeEventSuffix(to);
  return suffix === null ? null : `webhook${webhookId}${suffix}`;
}

/** What follows `webhook{ID}` in a state change's event name (null: the state emits none). */
export function stateChangeEventSuffix(to: WebhookState): string | null {
  switch (to) {
    case WebhookState.Active:
      return '.started';
    case WebhookState.Stopped:
      return '.stopped';
    case WebhookState.TooManyErrors:
      return '.errors';
    default:
      return null;
  }
}
