import { useState } from 'preact/hooks';
import { deleteWebhook, setState, testWebhook, webhookLabel } from './actions';
import { api, ApiError, query, type Webhook } from './api';
import { STATE_LABEL, STATUS_SYMBOL } from './format';
import { html, useNewestOnly, usePolling } from './html';
import { WebhookForm } from './webhookForm';

export interface Notice {
  kind: 'ok' | 'error';
  title: string;
  detail?: string;
}

export function NoticeBox({ notice, onClose }: { notice: Notice | null; onClose: () => void }) {
  return html`<div class="notice-area" aria-live="polite">
    ${notice &&
    html`<div class=${`notice ${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>
      <strong>${notice.kind === 'ok' ? '✓ ' : '✗ '}${notice.title}</strong>
      ${notice.detail && html`<pre class="message">${notice.detail}</pre>`}
      <button type="button" class="link" onClick=${onClose}>Dismiss</button>
    </div>`}
  </div>`;
}

export const StateBadge = ({ state }: { state: string }) =>
  html`<span class=${`badge state-${state}`}><span aria-hidden="true">${STATUS_SYMBOL[state] ?? ''} </span>${STATE_LABEL[state] ?? state}</span>`;

/** The buttons of one webhook: start or stop, test, edit, delete (after a confirm). */
export function WebhookActions({ webhook, onChanged, onDeleted, onEdit, onNotice }: { webhook: Webhook; onChanged: () => void; onDeleted: (title: string) => void; onEdit: () => void; onNotice: (n: Notice) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const label = webhookLabel(webhook);
  const refused = (what: string, error: unknown): Notice => ({ kind: 'error', title: `${what} ${label}: refused`, detail: error instanceof ApiError ? error.message : String(error) });
  const run = async (what: string, action: () => Promise<Notice>) => {
    setBusy(true);
    try {
      onNotice(await action());
    } catch (error) {
      onNotice(refused(what, error));
    } finally {
      setBusy(false);
      onChanged();
    }
  };
  // A deleted webhook leaves its list or page at once, in the same render as the notice saying so.
  const remove = async () => {
    setBusy(true);
    try {
      await deleteWebhook(webhook);
    } catch (error) {
      setBusy(false);
      onNotice(refused('Delete', error));
      onChanged();
      return;
    }
    onDeleted(`Deleted ${label}`);
  };
  const active = webhook.State === 'Active';
  if (confirming) {
    return html`<div class="actions confirm" role="group" aria-label=${`Confirm deleting ${label}`}>
      <span>Delete ${label} and stop its pending deliveries?</span>
      <button type="button" class="danger" disabled=${busy} onClick=${remove}>Yes, delete</button>
      <button type="button" onClick=${() => setConfirming(false)}>Keep it</button>
    </div>`;
  }
  return html`<div class="actions" role="group" aria-label=${`Actions for ${label}`}>
    ${active
      ? html`<button type="button" disabled=${busy} onClick=${() => run('Stop', async () => (await setState(webhook, 'Stopped'), { kind: 'ok', title: `Stopped ${label}` }))}>Stop</button>`
      : html`<button type="button" disabled=${busy} onClick=${() => run('Start', async () => (await setState(webhook, 'Active'), { kind: 'ok', title: `Started ${label} (target verified)` }))}>Start</button>`}
    <button type="button" disabled=${busy} onClick=${() =>
      run('Test', async () => {
        const result = await testWebhook(webhook);
        return { kind: result.Success ? 'ok' : 'error', title: `Test of ${label}: ${result.Success ? 'the target answered 200' : 'failed'}`, detail: result.Message };
      })}>Test</button>
    <button type="button" disabled=${busy} onClick=${onEdit}>Edit</button>
    <button type="button" class="danger" disabled=${busy} onClick=${() => setConfirming(true)}>Delete</button>
  </div>`;
}

const STATES = ['', 'Active', 'Stopped', 'TooManyErrors'];

/** Every webhook the ticket may see, filtered by name, event and state; updates itself. */
export function WebhookList() {
  const [name, setName] = useState('');
  const [event, setEvent] = useState('');
  const [state, setStateFilter] = useState('');
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Webhook | 'new' | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);

  const begin = useNewestOnly();
  const load = async () => {
    const newest = begin();
    try {
      const found = await api<Webhook[]>('GET', `/Webhook${query({ nameFilter: name, eventFilter: event, statusFilter: state })}`);
      if (!newest()) return;
      setWebhooks(found);
      setLoadError(null);
    } catch (error) {
      if (!newest()) return;
      setLoadError(error instanceof ApiError ? error.message : String(error));
    }
  };
  usePolling(load, [name, event, state]);
  const deleted = (gone: Webhook, title: string) => {
    setWebhooks((shown) => shown && shown.filter((w) => w.WebhookId !== gone.WebhookId));
    setNotice({ kind: 'ok', title });
    void load();
  };

  return html`<section aria-labelledby="webhooks-title">
    <div class="title-row">
      <h1 id="webhooks-title">Webhooks</h1>
      <button type="button" class="primary" onClick=${() => setEditing('new')} disabled=${editing === 'new'}>New webhook</button>
    </div>
    <${NoticeBox} notice=${notice} onClose=${() => setNotice(null)} />
    ${editing &&
    html`<${WebhookForm}
      key=${editing === 'new' ? 'new' : editing.WebhookId}
      webhook=${editing === 'new' ? null : editing}
      onCancel=${() => setEditing(null)}
      onSaved=${(saved: Webhook) => {
        setEditing(null);
        setNotice({ kind: 'ok', title: `Saved ${webhookLabel(saved)} (WebhookId ${saved.WebhookId}, ${saved.State})` });
        void load();
      }}
    />`}
    <form class="filters" role="search" aria-label="Filter webhooks" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Name contains <input type="search" name="nameFilter" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      <label>Event <input type="search" name="eventFilter" value=${event} onInput=${(e: Event) => setEvent((e.target as HTMLInputElement).value)} /></label>
      <label>State
        <select name="statusFilter" value=${state} onChange=${(e: Event) => setStateFilter((e.target as HTMLSelectElement).value)}>
          ${STATES.map((s) => html`<option value=${s}>${s ? STATE_LABEL[s] : 'Any state'}</option>`)}
        </select></label>
    </form>
    ${loadError && html`<p class="notice error" role="alert">✗ ${loadError}</p>`}
    ${webhooks === null
      ? html`<p>Loading webhooks…</p>`
      : webhooks.length === 0
        ? html`<p class="empty">No webhooks${name || event || state ? ' match these filters' : ' yet: create one with New webhook'}.</p>`
        : html`<table class="webhooks cards">
            <caption class="visually-hidden">Webhooks (${webhooks.length})</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Target</th><th scope="col">State</th><th scope="col">Events</th><th scope="col">Calls / errors / in a row</th><th scope="col">Last error</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              ${webhooks.map(
                (w) => html`<tr key=${w.WebhookId}>
                  <td data-label="Name"><a href=${`#/webhooks/${w.WebhookId}`}>${webhookLabel(w)}</a></td>
                  <td data-label="Target" class="url">${w.TargetUrl}</td>
                  <td data-label="State"><${StateBadge} state=${w.State} /></td>
                  <td data-label="Events">${w.Events.join(', ')}</td>
                  <td data-label="Calls / errors / in a row" class="num">${w.TotalCalls} / ${w.TotalErrors} / ${w.ConsecutiveErrors}</td>
                  <td data-label="Last error" class=${w.LastError ? 'error-text' : undefined}>${w.LastError || '—'}</td>
                  <td data-label="Actions"><${WebhookActions} webhook=${w} onChanged=${load} onDeleted=${(title: string) => deleted(w, title)} onEdit=${() => setEditing(w)} onNotice=${setNotice} /></td>
                </tr>`,
              )}
            </tbody>
          </table>`}
  </section>`;
}
