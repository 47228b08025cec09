import { flagsText, NotifyVia, NotifyWhen, WEBHOOK_STATE_NAMES, type AssociateRef, type StringEntry, type TypedEntry, type Webhook, type WebhookResult } from '../core/webhook';
import { associateMembers, listItemMembers, type CarrierMember } from '../core/associateCarrier';
import { dateTimeText, escapeXml, NS, textElement } from './xml';

/**
 * Response bodies written in the WSDL's xs:sequence order (node-soap would follow JavaScript
 * key order, write Dates as empty elements and xsi:nil without declaring xsi). Each root
 * declares the xsi and xs prefixes it may use.
 */

const ROOT_XMLNS = `xmlns:xsi="${NS.xsi}" xmlns:xs="${NS.xs}"`;

function stringDictionary(name: string, entries: StringEntry[] | null): string {
  if (entries === null) return `<${name} xsi:nil="true"/>`;
  const pairs = entries.map((e) => `<StringKeyValuePair>${textElement('Key', e.key)}${textElement('Value', e.value)}</StringKeyValuePair>`);
  return `<${name}>${pairs.join('')}</${name}>`;
}

function typedValue(entry: TypedEntry): string {
  if (entry.type === null || entry.value === null) return '<Value xsi:nil="true"/>';
  return `<Value xsi:type="xs:${entry.type}">${escapeXml(String(entry.value))}</Value>`;
}

function objectDictionary(name: string, entries: TypedEntry[] | null): string {
  if (entries === null) return `<${name} xsi:nil="true"/>`;
  const pairs = entries.map((e) => `<StringObjectKeyValuePair>${textElement('Key', e.key)}${typedValue(e)}</StringObjectKeyValuePair>`);
  return `<${name}>${pairs.join('')}</${name}>`;
}

function members(list: CarrierMember[]): string {
  return list.map(([name, value]) => textElement(name, value)).join('');
}

/** An associate's members are the same wherever it is written: kept per associate (most webhooks share a few). */
const associateXml = new Map<string, string>();
function associate(name: string, who: AssociateRef | null): string {
  if (who === null) return `<${name} xsi:nil="true"/>`;
  const key = `${who.associateId}\u0000${who.name}`;
  let inner = associateXml.get(key);
  if (inner === undefined) {
    if (associateXml.size >= 1000) associateXml.clear();
    inner = members(associateMembers(who));
    associateXml.set(key, inner);
  }
  return `<${name}>${inner}</${name}>`;
}

function stringArray(name: string, items: string[]): string {
  return `<${name} xmlns:a="${NS.arrays}">${items.map((item) => `<a:string>${escapeXml(item)}</a:string>`).join('')}</${name}>`;
}

/** NetServer 12.4 lists associates as MDOListItems. */
function listItems(name: string, associates: AssociateRef[]): string {
  return `<${name}>${associates.map((a) => `<MDOListItem>${members(listItemMembers(a))}</MDOListItem>`).join('')}</${name}>`;
}

function webhookFields(w: Webhook): string {
  const events = stringArray('Events', w.events);
  return (
    `<WebhookId>${w.webhookId}</WebhookId>` +
    textElement('Name', w.name) +
    events +
    textElement('TargetUrl', w.targetUrl) +
    textElement('Secret', w.secret) +
    `<State>${WEBHOOK_STATE_NAMES[w.state]}</State>` +
    textElement('Type', w.type) +
    stringDictionary('Headers', w.headers) +
    objectDictionary('Properties', w.properties) +
    `<Registered>${dateTimeText(w.registered)}</Registered>` +
    associate('RegisteredAssociate', w.registeredAssociate) +
    `<Updated>${dateTimeText(w.updated)}</Updated>` +
    associate('UpdatedAssociate', w.updatedAssociate) +
    textElement('ErrorsEmail', w.errorsEmail) +
    textElement('Description', w.description) +
    `<TotalCalls>${w.totalCalls}</TotalCalls>` +
    `<TotalErrors>${w.totalErrors}</TotalErrors>` +
    `<ConsecutiveErrors>${w.consecutiveErrors}</ConsecutiveErrors>` +
    textElement('LastError', w.lastError) +
    stringArray('ErrorEmails', w.errorEmails) +
    listItems('ErrorAssociates', w.errorAssociates) +
    `<NotifyVia>${flagsText(w.notifyVia, NotifyVia, ' ')}</NotifyVia>` +
    `<NotifyWhen>${flagsText(w.notifyWhen, NotifyWhen, ' ')}</NotifyWhen>` +
    `<Ordered>${w.ordered ? 'true' : 'false'}</Ordered>`
  );
}

export function webhookResponseXml(webhook: Webhook | null): string {
  if (webhook === null) return `<Response xsi:nil="true" xmlns:xsi="${NS.xsi}"/>`;
  return `<Response ${ROOT_XMLNS}>${webhookFields(webhook)}</Response>`;
}

/** In pieces, one a webhook: soap/answers.ts encodes each on its own, never one string of the whole list. */
export function webhookArrayResponseXml(webhooks: Webhook[]): string[] {
  const pieces = [`<Response ${ROOT_XMLNS}>`];
  for (const w of webhooks) pieces.push(`<Webhook>${webhookFields(w)}</Webhook>`);
  pieces.push('</Response>');
  return pieces;
}

export function webhookResultResponseXml(result: WebhookResult): string {
  return `<Response ${ROOT_XMLNS}><Success>${result.success}</Success>${textElement('Message', result.message)}</Response>`;
}

export function stringResponseXml(value: string): string {
  return `<Response>${escapeXml(value)}</Response>`;
}
