import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Webhook } from './api';
import { html } from './html';

interface Props {
  /** null: a new webhook. */
  webhook: Webhook | null;
  onSaved: (saved: Webhook) => void;
  onCancel: () => void;
}

const headersToText = (headers: Record<string, string> | null) =>
  Object.entries(headers ?? {})
    .map(([name, value]) => `${name}: ${value}`)
    .join('\n');

function headersFromText(text: string): Record<string, string> | null {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon < 1) throw new ApiError(400, 'BadInput', `The header line ${JSON.stringify(line.trim())} needs the form "Name: value".`, 'Headers');
    Object.defineProperty(headers, line.slice(0, colon).trim(), { value: line.slice(colon + 1).trim(), enumerable: true, writable: true, configurable: true });
  }
  return Object.keys(headers).length ? headers : null;
}

/**
 * Create or edit a webhook. Saving an Active webhook makes the service verify the target with a
 * signed test POST first; when it is refused, the service's message (the target's status line
 * and body excerpt, or the network error) is shown as it is, and nothing was stored.
 */
export function WebhookForm({ webhook, onSaved, onCancel }: Props) {
  const [name, setName] = useState(webhook?.Name ?? '');
  const [target, setTarget] = useState(webhook?.TargetUrl ?? 'https://');
  const [events, setEvents] = useState((webhook?.Events ?? ['contact.created']).join(', '));
  const [state, setStateValue] = useState(webhook?.State === 'Stopped' ? 'Stopped' : 'Active');
  const [secret, setSecret] = useState('');
  const [description, setDescription] = useState(webhook?.Description ?? '');
  const [errorsEmail, setErrorsEmail] = useState(webhook?.ErrorsEmail ?? '');
  const [headers, setHeaders] = useState(headersToText(webhook?.Headers ?? null));
  const [refusal, setRefusal] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const refusalBox = useRef<HTMLDivElement>(null);
  const firstField = useRef<HTMLInputElement>(null);
  const id = webhook ? `edit-${webhook.WebhookId}` : 'new';

  useEffect(() => firstField.current?.focus(), []);
  useEffect(() => {
    if (refusal) refusalBox.current?.focus();
  }, [refusal]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setRefusal(null);
    try {
      const body: Record<string, unknown> = {
        Name: name,
        TargetUrl: target.trim(),
        Events: events.split(/[\s,]+/).filter(Boolean),
        State: state,
        Description: description || null,
        ErrorsEmail: errorsEmail || null,
        Headers: headersFromText(headers),
      };
      if (secret || !webhook) body.Secret = secret || null;
      const saved = webhook
        ? await api<Webhook>('PATCH', `/Webhook/${webhook.WebhookId}`, body, 'application/merge-patch+json')
        : await api<Webhook>('POST', '/Webhook', { WebhookId: 0, ...body });
      onSaved(saved);
    } catch (error) {
      setRefusal(error instanceof ApiError ? error : new ApiError(0, 'Error', String(error), null));
    } finally {
      setBusy(false);
    }
  };

  return html`
    <form class="panel webhook-form" onSubmit=${submit} aria-labelledby=${`${id}-title`} novalidate>
      <h2 id=${`${id}-title`}>${webhook ? `Edit ${webhook.Name || `webhook ${webhook.WebhookId}`}` : 'New webhook'}</h2>
      <p class="hint">An Active webhook is saved only when its target answers a signed test POST with 200.</p>
      <div class="fields">
        <label>Name <input ref=${firstField} name="Name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} maxlength="400" /></label>
        <label>Target URL <input name="TargetUrl" type="url" required value=${target} onInput=${(e: Event) => setTarget((e.target as HTMLInputElement).value)} /></label>
        <label>Events <span class="hint">(comma-separated, e.g. contact.created, sale.changed)</span>
          <input name="Events" required value=${events} onInput=${(e: Event) => setEvents((e.target as HTMLInputElement).value)} /></label>
        <label>State
          <select name="State" value=${state} onChange=${(e: Event) => setStateValue((e.target as HTMLSelectElement).value)}>
            <option value="Active">Active (verify the target now)</option>
            <option value="Stopped">Stopped (no verification, no deliveries)</option>
          </select></label>
        <label>Secret <span class="hint">${webhook ? (webhook.Secret ? '(set; leave empty to keep it)' : '(not set)') : '(signs every delivery; optional)'}</span>
          <input name="Secret" type="password" autocomplete="new-password" value=${secret} onInput=${(e: Event) => setSecret((e.target as HTMLInputElement).value)} /></label>
        <label>Description <input name="Description" value=${description} onInput=${(e: Event) => setDescription((e.target as HTMLInputElement).value)} /></label>
        <label>Errors email <input name="ErrorsEmail" type="email" value=${errorsEmail} onInput=${(e: Event) => setErrorsEmail((e.target as HTMLInputElement).value)} /></label>
        <label>Headers <span class="hint">(one "Name: value" a line)</span>
          <textarea name="Headers" rows="2" value=${headers} onInput=${(e: Event) => setHeaders((e.target as HTMLTextAreaElement).value)}></textarea></label>
      </div>
      ${refusal &&
      html`<div class="refusal" role="alert" tabindex="-1" ref=${refusalBox}>
        <h3>✗ Not saved${refusal.field ? html` (${refusal.field})` : ''}</h3>
        <pre class="message">${refusal.message}</pre>
      </div>`}
      <div class="buttons">
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Saving…' : webhook ? 'Save changes' : 'Create webhook'}</button>
        <button type="button" onClick=${onCancel}>Cancel</button>
      </div>
    </form>
  `;
}
