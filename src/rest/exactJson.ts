import crypto from 'node:crypto';

/**
 * Whole numbers beyond 2^53 in JSON, exactly (an xs:long Property such as 9007199254740993):
 * JSON.parse and JSON.stringify go through IEEE doubles and would round them. On input such a
 * literal becomes a marked string the carrier reader recognises; on output an ExactInteger is
 * written as its digits. Bodies without a 16-digit run are parsed and written as usual.
 */

// A NUL and a per-process nonce: no stored text can carry NUL (validation refuses it), so the marker cannot be forged.
const MARK = `\u0000${crypto.randomBytes(6).toString('hex')}:`;
const MARKED_IN_OUTPUT = new RegExp(`"\\\\u0000${MARK.slice(1)}(-?\\d+)"`, 'g');

/** A whole number kept as its decimal digits. */
export class ExactInteger {
  constructor(readonly digits: string) {}
  toJSON(): string {
    return `${MARK}${this.digits}`;
  }
}

/** JSON text with ExactIntegers as bare number literals. */
export function stringifyExact(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.includes('\\u0000') ? text.replace(MARKED_IN_OUTPUT, '$1') : text;
}

/** The digits of an unsafe integer literal read by parseExact, or null. */
export function exactIntegerText(value: unknown): string | null {
  return typeof value === 'string' && value.startsWith(MARK) ? value.slice(MARK.length) : null;
}

/** Could this JSON text hold an integer literal JSON.parse would round? */
export function mayHoldUnsafeIntegers(text: string): boolean {
  return /\d{16,}/.test(text);
}

/** JSON.parse, except that integer literals beyond Number.MAX_SAFE_INTEGER become marked strings. */
export function parseExact(text: string): unknown {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end])) end++;
      const literal = text.slice(i, end);
      if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        // The NUL escaped: JSON strings cannot hold raw control characters.
        out += `${text.slice(last, i)}"\\u0000${MARK.slice(1)}${literal}"`;
        last = end;
      }
      i = end - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}
