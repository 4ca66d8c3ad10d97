// XML 1.0 escaping. Backend messages and journal entries are untrusted text: besides `<` and `&`
// they can hold control characters, which XML 1.0 forbids even as character references, and lone
// surrogates, which no encoder can write. Both are dropped; everything else is kept verbatim.

// Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
// With the `u` flag a lone surrogate is one code point in D800–DFFF, so it matches as "not a Char".
const NOT_XML_CHAR = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

export function stripInvalidXmlChars(text: string): string {
  return text.replace(NOT_XML_CHAR, "");
}

/** Element content. `>` is escaped too, so `]]>` cannot appear; `\r` survives line-end normalization. */
export function xmlText(text: string): string {
  return stripInvalidXmlChars(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\r/g, "&#13;");
}

/** Attribute value (double-quoted). Tabs and newlines become references so parsers keep them. */
export function xmlAttr(text: string): string {
  return xmlText(text).replace(/"/g, "&quot;").replace(/\t/g, "&#9;").replace(/\n/g, "&#10;");
}
