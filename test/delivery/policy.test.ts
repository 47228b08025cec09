import { WebhookState } from '../../src/core/webhook';
import { classify, counterDelta, DEFAULT_RETRY_SCHEDULE_MS, nextStep, shouldTrip, stateChangeEventName } from '../../src/delivery/policy';

const policy = { retryScheduleMs: [...DEFAULT_RETRY_SCHEDULE_MS], consecutiveErrorLimit: 9 };

describe('delivery policy', () => {
  it('counts any 2xx as success, 410 as gone, and 3xx, 4xx, 5xx, timeouts and network errors as failures', () => {
    expect(classify({ status: 200, error: null })).toBe('success');
    expect(classify({ status: 204, error: null })).toBe('success');
    expect(classify({ status: 299, error: null })).toBe('success');
    expect(classify({ status: 410, error: null })).toBe('gone');
    for (const status of [301, 302, 400, 404, 500, 503]) expect(classify({ status, error: null })).toBe('failure');
    expect(classify({ status: 200, error: 'timed out after 10000 ms (reading the response body)' })).toBe('failure');
    expect(classify({ status: null, error: 'connection refused' })).toBe('failure');
  });

  it('follows NetServer\'s cycle: attempt, wait 1 s, attempt, wait 4 s, attempt, then failed', () => {
    expect(nextStep(1, 'failure', policy)).toEqual({ kind: 'retry', delayMs: 1000 });
    expect(nextStep(2, 'failure', policy)).toEqual({ kind: 'retry', delayMs: 4000 });
    expect(nextStep(3, 'failure', policy)).toEqual({ kind: 'failed' });
    expect(nextStep(3, 'success', policy)).toEqual({ kind: 'succeeded' });
    expect(nextStep(1, 'gone', { ...policy, retryScheduleMs: [] })).toEqual({ kind: 'failed' });
  });

  it('adds calls and errors and resets consecutive errors at the last success, in completion order', () => {
    const delta = counterDelta([
      { outcome: 'failure', errorText: 'a', probe: true },
      { outcome: 'success', errorText: null },
      { outcome: 'failure', errorText: 'b' },
      { outcome: 'failure', errorText: 'c', probe: true },
    ]);
    // Of the trailing failures, the probes are counted apart (queue.addWebhookCounters counts only those after the first failure).
    expect(delta).toEqual({ calls: 4, errors: 3, resets: true, trailingFailures: 2, trailingProbeFailures: 1, gone: false, lastError: 'c' });
    expect(counterDelta([{ outcome: 'gone', errorText: 'the target answered HTTP/1.1 410 Gone' }])).toMatchObject({ errors: 1, resets: false, trailingFailures: 1, gone: true });
  });

  it('trips a webhook at 9 consecutive errors or at once on 410', () => {
    expect(shouldTrip(8, false, policy)).toBe(false);
    expect(shouldTrip(9, false, policy)).toBe(true);
    expect(shouldTrip(1, true, policy)).toBe(true);
  });

  it('names state-change events webhook{ID}.started, .stopped and .errors', () => {
    expect(stateChangeEventName(12, WebhookState.Active)).toBe('webhook12.started');
    expect(stateChangeEventName(12, WebhookState.Stopped)).toBe('webhook12.stopped');
    expect(stateChangeEventName(12, WebhookState.TooManyErrors)).toBe('webhook12.errors');
    expect(stateChangeEventName(12, WebhookState.Unknown)).toBeNull();
  });
});
