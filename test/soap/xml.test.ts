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
