import { createDefaultWebhook, flagsText, NotifyVia, type Webhook } from '../../src/core/webhook';
import { webhookArrayResponseXml } from '../../src/soap/carrierXml';
import { escapeXml } from '../../src/soap/xml';

describe('escapeXml', () => {
  it('returns text that needs nothing as it is', () => {
    const text = 'https://example.com/hook?a=1 Ærlig talt, 日本語 😀';
    expect(escapeXml(text)).toBe(text);
  });

  it('escapes markup characters and CR, and replaces characters XML 1.0 cannot carry', () => {
    expect(escapeXml(`a&b<c>d"e'f\r\ng\th`)).toBe(`a&amp;b&lt;c&gt;d&quot;e'f&#13;\ng\th`);
    expect(escapeXml('nul\u0000 bell\u0007 vt\u000B ff\u000C us\u001F')).toBe('nul\uFFFD bell\uFFFD vt\uFFFD ff\uFFFD us\uFFFD');
    expect(escapeXml('\uFFFE\uFFFF')).toBe('\uFFFD\uFFFD');
  });

  it('keeps surrogate pairs and replaces lone surrogates', () => {
    expect(escapeXml('pair 😀 & more')).toBe('pair 😀 &amp; more');
    expect(escapeXml('lone \uD83D end')).toBe('lone \uFFFD end');
    expect(escapeXml('lone \uDE00 end')).toBe('lone \uFFFD end');
    expect(escapeXml('\uD83D')).toBe('\uFFFD');
  });
});

describe('webhook carriers written from kept pieces (associates and flag texts made once)', () => {
  const hook = (id: number, who: { associateId: number; name: string }, notifyVia: number): Webhook => ({
    ...createDefaultWebhook(),
    webhookId: id,
    registeredAssociate: who,
    updatedAssociate: { associateId: 1, name: 'Bootstrap' },
    notifyVia,
  });

  it('writes each associate and flags value as its own, however often it was written before', () => {
    const ada = { associateId: 7, name: 'Ada <Admin>' };
    const other = { associateId: 7, name: 'Renamed' }; // same id, new name: not the kept text
    for (let round = 0; round < 2; round++) {
      const xml = webhookArrayResponseXml([hook(1, ada, NotifyVia.Email), hook(2, other, NotifyVia.Email | NotifyVia.InApp), hook(3, ada, NotifyVia.None)]).join('');
      const registered = [...xml.matchAll(/<RegisteredAssociate><AssociateId>(\d+)<\/AssociateId><Name>([^<]*)<\/Name>/g)].map((m) => `${m[1]} ${m[2]}`);
      expect(registered).toEqual(['7 Ada &lt;Admin&gt;', '7 Renamed', '7 Ada &lt;Admin&gt;']);
      expect([...xml.matchAll(/<NotifyVia>([^<]*)<\/NotifyVia>/g)].map((m) => m[1])).toEqual(['Email', 'Email InApp', 'None']);
      expect(xml.match(/<FullName>Bootstrap<\/FullName>/g)).toHaveLength(3);
    }
    expect(flagsText(NotifyVia.Email | NotifyVia.InApp, NotifyVia)).toBe('Email, InApp'); // REST's separator is kept apart
    expect(flagsText(99, NotifyVia)).toBe('Email, InApp'); // out of range: spelled, not kept
  });
});
