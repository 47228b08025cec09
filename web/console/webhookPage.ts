import { useState } from 'preact/hooks';
import { webhookLabel } from './actions';
import { api, ApiError, query, type Delivery, type DeliveryDetail, type Statistics, type Webhook } from './api';
import { DeliveryChart } from './chart';
import { formatMs, formatTime, STATUS_SYMBOL, toLocalInput } from './format';
import { html, useNewestOnly, usePolling } from './html';
import { WebhookForm } from './webhookForm';
import { NoticeBox, StateBadge, WebhookActions, type Notice } from './webhookList';

const StatusText = ({ status }: { status: string }) =>
  html`<span class=${`badge status-${status}`}><span aria-hidden="true">${STATUS_SYMBOL[status] ?? ''} </span>${status}</span>`;

/** One delivery's attempts, cycle by cycle: status or network error, latency, the answer, the headers sent. */
function AttemptTable({ detail }: { detail: DeliveryDetail }) {
  if (detail.AttemptLog.length === 0) return html`<p class="empty">No attempt yet${detail.NextAttempt ? `; due ${formatTime(detail.NextAttempt)}` : ''}.</p>`;
  return html`<table class="attempts cards">
    <caption>Attempts of delivery ${detail.DeliveryId} (EventId ${detail.EventId})</caption>
    <thead><tr><th scope="col">Cycle</th><th scope="col">Attempt</th><th scope="col">Time</th><th scope="col">Outcome</th><th scope="col">HTTP status</th><th scope="col">Latency</th><th scope="col">Error</th><th scope="col">Answer and headers</th></tr></thead>
    <tbody>
      ${detail.AttemptLog.map(
        (a) => html`<tr key=${a.AttemptId}>
          <td data-label="Cycle">${a.Cycle}</td>
          <td data-label="Attempt">${a.AttemptNumber}</td>
          <td data-label="Time">${formatTime(a.AttemptedAt)}</td>
          <td data-label="Outcome"><${StatusText} status=${a.Outcome} /></td>
          <td data-label="HTTP status">${a.HttpStatus ?? (a.Outcome === 'unknown' ? 'not known yet' : 'none')}</td>
          <td data-label="Latency">${a.Outcome === 'unknown' ? '—' : formatMs(a.LatencyMs)}</td>
          <td data-label="Error" class=${a.Error ? 'error-text' : undefined}>${a.Error || '—'}</td>
          <td data-label="Answer and headers">
            ${a.ResponseBody ? html`<pre class="body">${a.ResponseBody}</pre>` : html`<span class="hint">(no body)</span>`}
            <details><summary>Headers sent</summary>
              <dl class="headers">${Object.entries(a.HeadersSent).map(([name, value]) => html`<dt>${name}</dt><dd>${value}</dd>`)}</dl>
            </details>
          </td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

const PAGE = 25;
const HOUR_MS = 3600 * 1000;

/** The last 24 hours in whole-hour buckets, the current hour last. */
function lastDayByHour(): { since: string; until: string; bucket: number } {
  const until = Math.ceil(Date.now() / HOUR_MS) * HOUR_MS;
  return { since: new Date(until - 24 * HOUR_MS).toISOString(), until: new Date(until).toISOString(), bucket: 3600 };
}

/** One webhook: its settings, the last 24 hours as a chart, its deliveries with their attempts. */
export function WebhookPage({ id, onGone }: { id: number; onGone: (message: string) => void }) {
  const [webhook, setWebhook] = useState<Webhook | null>(null);
  const [stats, setStats] = useState<Statistics | null>(null);
  const [status, setStatus] = useState('');
  const [latest, setLatest] = useState<Delivery[] | null>(null);
  const [older, setOlder] = useState<Delivery[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<Record<string, DeliveryDetail | null>>({});
  const [notice, setNotice] = useState<Notice | null>(null);
  const [editing, setEditing] = useState(false);
  const [since, setSince] = useState(toLocalInput(new Date(Date.now() - 24 * 3600 * 1000)));
  const [loadError, setLoadError] = useState<string | null>(null);

  const begin = useNewestOnly();
  const load = async () => {
    const newest = begin();
    try {
      const [w, s, page] = await Promise.all([
        api<Webhook>('GET', `/Webhook/${id}`),
        api<Statistics>('GET', `/Webhook/${id}/Statistics${query(lastDayByHour())}`),
        api<{ Deliveries: Delivery[]; NextCursor: string | null }>('GET', `/Webhook/${id}/Deliveries${query({ status, limit: PAGE })}`),
      ]);
      const open = Object.keys(expanded);
      const details = await Promise.all(open.map((deliveryId) => api<DeliveryDetail>('GET', `/Webhook/Deliveries/${deliveryId}`).catch(() => null)));
      if (!newest()) return;
      setWebhook(w);
      setStats(s);
      setLatest(page.Deliveries);
      // The older pages the operator loaded stay; only the cursor of the first page is taken while none are.
      if (older.length === 0) setCursor(page.NextCursor);
      if (open.length) setExpanded((current) => Object.fromEntries(Object.keys(current).map((key) => [key, details[open.indexOf(key)] ?? current[key]])));
      setLoadError(null);
    } catch (error) {
      if (!newest()) return;
      if (error instanceof ApiError && error.status === 404) onGone(`Webhook ${id} does not exist (any more), or this ticket may not see it.`);
      else setLoadError(error instanceof ApiError ? error.message : String(error));
    }
  };
  usePolling(load, [id, status]);

  const toggle = async (deliveryId: string) => {
    if (deliveryId in expanded) {
      const { [deliveryId]: _closed, ...rest } = expanded;
      setExpanded(rest);
      return;
    }
    setExpanded({ ...expanded, [deliveryId]: null });
    try {
      const detail = await api<DeliveryDetail>('GET', `/Webhook/Deliveries/${deliveryId}`);
      setExpanded((current) => (deliveryId in current ? { ...current, [deliveryId]: detail } : current));
    } catch (error) {
      setNotice({ kind: 'error', title: `Attempts of delivery ${deliveryId}`, detail: error instanceof ApiError ? error.message : String(error) });
    }
  };

  const loadOlder = async () => {
    if (!cursor) return;
    const page = await api<{ Deliveries: Delivery[]; NextCursor: string | null }>('GET', `/Webhook/${id}/Deliveries${query({ status, limit: PAGE, before: cursor })}`);
    setOlder([...older, ...page.Deliveries]);
    setCursor(page.NextCursor);
  };

  const redeliverOne = async (delivery: Delivery) => {
    try {
      const result = await api<{ Status: string }>('POST', `/Webhook/Deliveries/${delivery.DeliveryId}/Redeliver`);
      setNotice({ kind: 'ok', title: `Delivery ${delivery.DeliveryId} redelivered: ${result.Status === 'pending' ? 'due now' : 'held until the webhook is Active'}` });
    } catch (error) {
      setNotice({ kind: 'error', title: `Redeliver ${delivery.DeliveryId}: refused`, detail: error instanceof ApiError ? error.message : String(error) });
    }
    void load();
  };

  const redeliverSince = async (event: Event) => {
    event.preventDefault();
    const from = new Date(since);
    if (Number.isNaN(from.getTime())) {
      setNotice({ kind: 'error', title: 'Give the time from which failed deliveries are sent again.' });
      return;
    }
    try {
      const totals = await api<{ Redelivered: number; Pending: number; Held: number }>('POST', `/Webhook/${id}/Redeliver`, { Since: from.toISOString() });
      setNotice({ kind: 'ok', title: `Redelivered ${totals.Redelivered} failed deliveries since ${formatTime(from.toISOString())}: ${totals.Pending} due now, ${totals.Held} held` });
    } catch (error) {
      setNotice({ kind: 'error', title: 'Redeliver failed deliveries: refused', detail: error instanceof ApiError ? error.message : String(error) });
    }
    void load();
  };

  if (!webhook) return html`<section><p><a href="#/">← All webhooks</a></p>${loadError ? html`<p class="notice error" role="alert">✗ ${loadError}</p>` : html`<p>Loading webhook ${id}…</p>`}</section>`;
  const label = webhookLabel(webhook);
  const deliveries = [...(latest ?? []), ...older.filter((o) => !(latest ?? []).some((l) => l.DeliveryId === o.DeliveryId))];

  return html`<section aria-labelledby="webhook-title">
    <p><a href="#/">← All webhooks</a></p>
    <div class="title-row">
      <h1 id="webhook-title">${label}</h1>
      <${StateBadge} state=${webhook.State} />
    </div>
    <${NoticeBox} notice=${notice} onClose=${() => setNotice(null)} />
    ${loadError && html`<p class="notice error" role="alert">✗ ${loadError}</p>`}
    <${WebhookActions} webhook=${webhook} onEdit=${() => setEditing(true)} onNotice=${setNotice} onChanged=${load} onDeleted=${(title: string) => (begin(), onGone(title))} />
    ${editing &&
    html`<${WebhookForm} webhook=${webhook} onCancel=${() => setEditing(false)} onSaved=${(saved: Webhook) => {
      setEditing(false);
      setWebhook(saved);
      setNotice({ kind: 'ok', title: `Saved ${webhookLabel(saved)} (${saved.State})` });
    }} />`}

    <section class="panel" aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <dl class="settings">
        <dt>WebhookId</dt><dd>${webhook.WebhookId}</dd>
        <dt>Target URL</dt><dd class="url">${webhook.TargetUrl}</dd>
        <dt>Events</dt><dd>${webhook.Events.join(', ')}</dd>
        <dt>Secret</dt><dd>${webhook.Secret ? 'set (signs every delivery)' : 'not set'}</dd>
        <dt>Headers</dt><dd>${Object.keys(webhook.Headers ?? {}).join(', ') || '—'}</dd>
        <dt>Description</dt><dd>${webhook.Description || '—'}</dd>
        <dt>Errors email</dt><dd>${webhook.ErrorsEmail || '—'}</dd>
        <dt>Calls / errors / in a row</dt><dd>${webhook.TotalCalls} / ${webhook.TotalErrors} / ${webhook.ConsecutiveErrors}</dd>
        <dt>Last error</dt><dd class=${webhook.LastError ? 'error-text' : undefined}>${webhook.LastError || '—'}</dd>
        <dt>Registered</dt><dd>${formatTime(webhook.Registered)}</dd>
        <dt>Updated</dt><dd>${formatTime(webhook.Updated)}</dd>
      </dl>
    </section>

    <section class="panel" aria-labelledby="chart-heading">
      <h2 id="chart-heading">Last 24 hours</h2>
      ${stats ? html`<${DeliveryChart} stats=${stats} />` : html`<p>Loading…</p>`}
    </section>

    <section class="panel" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <div class="delivery-tools">
        <label>Status
          <select name="status" value=${status} onChange=${(e: Event) => { setStatus((e.target as HTMLSelectElement).value); setOlder([]); setCursor(null); }}>
            <option value="">Any status</option>
            ${['failed', 'succeeded', 'pending', 'held', 'cancelled'].map((s) => html`<option value=${s}>${s}</option>`)}
          </select></label>
        <form class="inline" onSubmit=${redeliverSince} aria-label="Redeliver failed deliveries since a time">
          <label>Failed since <input type="datetime-local" name="since" value=${since} onInput=${(e: Event) => setSince((e.target as HTMLInputElement).value)} /></label>
          <button type="submit">Redeliver all failed since then</button>
        </form>
      </div>
      ${latest === null
        ? html`<p>Loading deliveries…</p>`
        : deliveries.length === 0
          ? html`<p class="empty">No deliveries${status ? ` with status ${status}` : ' yet'}.</p>`
          : html`<table class="deliveries cards">
              <caption class="visually-hidden">Deliveries, newest first</caption>
              <thead><tr><th scope="col">Delivery</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Cycle</th><th scope="col">Attempts</th><th scope="col">Created</th><th scope="col">Last error</th><th scope="col">Actions</th></tr></thead>
              ${deliveries.map(
                (d) => html`<tbody key=${d.DeliveryId} class="delivery">
                  <tr>
                    <td data-label="Delivery">${d.DeliveryId}</td>
                    <td data-label="Event">${d.EventName} #${d.PrimaryKey}</td>
                    <td data-label="Status"><${StatusText} status=${d.Status} /></td>
                    <td data-label="Cycle">${d.Cycle}</td>
                    <td data-label="Attempts">${d.Attempts}</td>
                    <td data-label="Created">${formatTime(d.Created)}</td>
                    <td data-label="Last error" class=${d.LastError ? 'error-text' : undefined}>${d.LastError || '—'}</td>
                    <td data-label="Actions"><div class="actions">
                      <button type="button" aria-expanded=${d.DeliveryId in expanded} aria-controls=${`attempts-${d.DeliveryId}`} onClick=${() => toggle(d.DeliveryId)}>
                        ${d.DeliveryId in expanded ? 'Hide attempts' : 'Show attempts'}<span class="visually-hidden"> of delivery ${d.DeliveryId}</span></button>
                      ${d.Status === 'failed' && html`<button type="button" onClick=${() => redeliverOne(d)}>Redeliver<span class="visually-hidden"> delivery ${d.DeliveryId}</span></button>`}
                    </div></td>
                  </tr>
                  ${d.DeliveryId in expanded &&
                  html`<tr class="attempts-row" id=${`attempts-${d.DeliveryId}`}><td colspan="8">
                    ${expanded[d.DeliveryId] ? html`<${AttemptTable} detail=${expanded[d.DeliveryId]} />` : html`<p>Loading attempts…</p>`}
                  </td></tr>`}
                </tbody>`,
              )}
            </table>`}
      ${cursor && html`<button type="button" onClick=${loadOlder}>Load older deliveries</button>`}
    </section>
  </section>`;
}
