import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, forgetTicket, storedTicket, storeTicket, whenUnauthorized } from './api';
import { html } from './html';
import { WebhookList } from './webhookList';
import { WebhookPage } from './webhookPage';

/**
 * The operator console: sign in with a ticket (kept in this tab's sessionStorage and sent as
 * Authorization: Bearer; no cookies), then the webhooks and one webhook's page (#/webhooks/ID).
 */

function SignIn({ reason, onSignedIn }: { reason: string | null; onSignedIn: (ticket: string) => void }) {
  const [ticket, setTicket] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const value = ticket.trim();
    if (!value) {
      setError('Enter a ticket: the one printed at first start, or one made with npx webhook-agent tickets create.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api('GET', '/Webhook', undefined, 'application/json', value);
      onSignedIn(value);
    } catch (failure) {
      setError(failure instanceof ApiError && failure.status === 401 ? `That ticket was refused: ${failure.message}` : failure instanceof Error ? failure.message : String(failure));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return html`<main id="main" class="sign-in">
    <h1>webhook-agent console</h1>
    <form class="panel" onSubmit=${submit} aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      <p class="hint">The ticket stays in this browser tab only and is sent with each request; closing the tab signs you out.</p>
      ${reason && !error && html`<p class="notice error" role="alert">✗ ${reason}</p>`}
      <label>Ticket <input ref=${input} type="password" name="ticket" autocomplete="off" spellcheck="false" value=${ticket}
        aria-invalid=${error ? 'true' : 'false'} aria-describedby=${error ? 'sign-in-error' : undefined}
        onInput=${(e: Event) => setTicket((e.target as HTMLInputElement).value)} /></label>
      ${error && html`<p id="sign-in-error" class="notice error" role="alert">✗ ${error}</p>`}
      <div class="buttons"><button type="submit" class="primary" disabled=${busy}>${busy ? 'Checking…' : 'Sign in'}</button></div>
    </form>
  </main>`;
}

const routeOf = (hash: string): { webhookId: number | null } => {
  const match = /^#\/webhooks\/(\d{1,10})$/.exec(hash);
  return { webhookId: match ? Number(match[1]) : null };
};

function App() {
  const [ticket, setTicket] = useState(storedTicket());
  const [reason, setReason] = useState<string | null>(null);
  const [hash, setHash] = useState(location.hash);
  const [gone, setGone] = useState<string | null>(null);

  useEffect(() => {
    whenUnauthorized((message) => {
      forgetTicket();
      setTicket(null);
      setReason(`Signed out: ${message}`);
    });
    const onHash = () => {
      if (location.hash && !location.hash.startsWith('#/')) return; // the skip link, not a screen
      setHash(location.hash);
      window.scrollTo(0, 0);
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  if (!ticket) {
    return html`<${SignIn} reason=${reason} onSignedIn=${(value: string) => {
      storeTicket(value);
      setReason(null);
      setTicket(value);
    }} />`;
  }
  const { webhookId } = routeOf(hash);
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">webhook-agent</a>
      <nav aria-label="Console"><a href="#/" aria-current=${webhookId === null ? 'page' : undefined}>Webhooks</a></nav>
      <button type="button" class="link" onClick=${() => {
        forgetTicket();
        setTicket(null);
        setReason(null);
      }}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">
      ${gone && webhookId === null && html`<p class="notice ok" role="status">${gone} <button type="button" class="link" onClick=${() => setGone(null)}>Dismiss</button></p>`}
      ${webhookId === null
        ? html`<${WebhookList} />`
        : html`<${WebhookPage} key=${webhookId} id=${webhookId} onGone=${(message: string) => {
            setGone(message);
            location.hash = '#/';
          }} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById('app')!);
