import {
  PAYLOAD_FIELD_NAMES,
  buildPayload,
  buildTestPayload,
  entityOf,
  serializePayload,
  type PayloadInput,
} from '../../src/outbound/payload';

const EVENT_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';

function input(overrides: Partial<PayloadInput> = {}): PayloadInput {
  return {
    eventId: EVENT_ID,
    timestamp: new Date(Date.UTC(2026, 10, 3, 9, 13, 37, 626)),
    eventName: 'contact.created',
    primaryKey: 1234,
    data: { contact_id: 1234, name: 'Acme', active: true, registered: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), email: null },
    contextIdentifier: 'Cust12345',
    changedByAssociateId: 5,
    webhookName: 'crm sync',
    properties: null,
    ...overrides,
  };
}

describe('buildPayload / serializePayload', () => {
  it('writes the members in the SuperOffice order with the exact JSON text', () => {
    const body = serializePayload(buildPayload(input({ properties: { tenant: 'eu-1' } })));
    expect(body.toString('utf8')).toBe(
      '{"EventId":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","Timestamp":"2026-11-03T09:13:37.626Z",' +
        '"Changes":["contact_id","name","active","registered","email"],"Event":"contact.created",' +
        '"PrimaryKey":1234,"Entity":"contact","ContextIdentifier":"Cust12345","ChangedByAssociateId":5,' +
        '"WebhookName":"crm sync","FieldValues":{"contact_id":1234,"name":"Acme","active":true,' +
        '"registered":"2026-01-02T03:04:05.000Z","email":null},"tenant":"eu-1"}',
    );
  });

  it('lists the Data keys as Changes and the Data dictionary as FieldValues, Dates as ISO strings', () => {
    const payload = buildPayload(input());
    expect(payload.Changes).toEqual(['contact_id', 'name', 'active', 'registered', 'email']);
    expect(payload.FieldValues).toEqual({
      contact_id: 1234,
      name: 'Acme',
      active: true,
      registered: '2026-01-02T03:04:05.000Z',
      email: null,
    });
  });

  it('writes Timestamp in UTC whatever the Date was built from', () => {
    const payload = buildPayload(input({ timestamp: new Date('2026-06-01T12:00:00+02:00') }));
    expect(payload.Timestamp).toBe('2026-06-01T10:00:00.000Z');
  });

  it('refuses an invalid Timestamp rather than sending a payload without one', () => {
    expect(() => buildPayload(input({ timestamp: new Date('nope') }))).toThrow(RangeError);
  });

  it('adds Properties as top-level members after the fixed ones, never overriding a fixed member in any case', () => {
    const payload = buildPayload(
      input({ properties: { EventId: 'spoofed', eventid: 'spoofed', WEBHOOKNAME: 'x', region: 'eu', '7': 'seven' } }),
    );
    const parsed = JSON.parse(serializePayload(payload).toString('utf8'));
    expect(parsed.EventId).toBe(EVENT_ID);
    expect(parsed.WebhookName).toBe('crm sync');
    expect(parsed.region).toBe('eu');
    // JSON.parse (like any JS object) enumerates integer-like keys first, so read the member order from the bytes.
    const text = serializePayload(payload).toString('utf8');
    const positions = [...PAYLOAD_FIELD_NAMES, '7', 'region'].map((key) => text.indexOf(`"${key}":`));
    expect(positions.every((pos) => pos > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(text).not.toMatch(/spoofed|"eventid"|"WEBHOOKNAME"/);
  });

  it('keeps a __proto__ key from Data or Properties as an ordinary member without touching the prototype', () => {
    const data = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const properties = JSON.parse('{"__proto__": "p"}') as Record<string, unknown>;
    const payload = buildPayload(input({ data, properties }));
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(payload.FieldValues)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const parsed = JSON.parse(serializePayload(payload).toString('utf8'), (key, value) => value);
    expect(Object.keys(parsed)).toContain('__proto__');
    expect(payload.Changes).toEqual(['__proto__', 'a']);
  });

  it('serialises to exactly the UTF-8 bytes of the JSON text, non-ASCII and emoji included', () => {
    const payload = buildPayload(input({ data: { name: 'Ærlig Søk 😀 "quoted"' }, webhookName: null }));
    const body = serializePayload(payload);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(body.equals(Buffer.from(JSON.stringify(payload), 'utf8'))).toBe(true);
    expect(body.includes(Buffer.from('Ærlig Søk 😀', 'utf8'))).toBe(true);
    expect(JSON.parse(body.toString('utf8')).WebhookName).toBeNull();
  });

  it('writes an invalid Date in Data as null, as JSON would', () => {
    expect(buildPayload(input({ data: { when: new Date('nope') } })).FieldValues).toEqual({ when: null });
  });
});

describe('buildTestPayload', () => {
  it('builds the verification payload: Event and Entity "test", PrimaryKey 0, no Changes, empty FieldValues', () => {
    const payload = buildTestPayload({
      eventId: EVENT_ID,
      timestamp: new Date(Date.UTC(2026, 0, 1)),
      contextIdentifier: 'Cust12345',
      changedByAssociateId: 7,
      webhookName: 'hook',
      properties: { region: 'eu' },
    });
    expect(serializePayload(payload).toString('utf8')).toBe(
      '{"EventId":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","Timestamp":"2026-01-01T00:00:00.000Z","Changes":[],' +
        '"Event":"test","PrimaryKey":0,"Entity":"test","ContextIdentifier":"Cust12345","ChangedByAssociateId":7,' +
        '"WebhookName":"hook","FieldValues":{},"region":"eu"}',
    );
  });
});

describe('entityOf', () => {
  it('takes the event name before its last dot', () => {
    expect(entityOf('contact.created')).toBe('contact');
    expect(entityOf('webhook12.started')).toBe('webhook12');
    expect(entityOf('sale.stakeholder.changed')).toBe('sale.stakeholder');
    expect(entityOf('test')).toBe('test');
  });
});

describe('PAYLOAD_FIELD_NAMES', () => {
  it('names the ten reserved top-level members in payload order', () => {
    expect(PAYLOAD_FIELD_NAMES).toEqual([
      'EventId', 'Timestamp', 'Changes', 'Event', 'PrimaryKey', 'Entity',
      'ContextIdentifier', 'ChangedByAssociateId', 'WebhookName', 'FieldValues',
    ]);
    expect(Object.isFrozen(PAYLOAD_FIELD_NAMES)).toBe(true);
  });
});
