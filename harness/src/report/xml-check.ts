// A deliberately strict, tiny XML reader for tests: enough of XML 1.0 to prove our JUnit output is
// well-formed (balanced tags, quoted attributes, valid references, only legal characters) and to
// read it back. Node has no DOMParser, and adding a parser dependency for tests is not worth it.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ILLEGAL = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

function decode(raw: string, at: number): string {
  if (raw.includes("<")) throw new Error(`raw < at ${at}`);
  return raw.replace(/&([^;]*);?/g, (m, ref: string) => {
    if (!m.endsWith(";")) throw new Error(`unterminated reference ${JSON.stringify(m)} at ${at}`);
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (ref in named) return named[ref]!;
    const num = /^#(\d+)$/.exec(ref)?.[1] ?? (/^#x([0-9a-f]+)$/i.exec(ref) ? String(parseInt(ref.slice(2), 16)) : undefined);
    if (num === undefined) throw new Error(`bad reference &${ref}; at ${at}`);
    const ch = String.fromCodePoint(Number(num));
    if (ILLEGAL.test(ch)) throw new Error(`reference to illegal character &${ref}; at ${at}`);
    return ch;
  });
}

/** Parses `xml` or throws with the offset of the first problem. */
export function parseXml(xml: string): XmlElement {
  const bad = ILLEGAL.exec(xml);
  if (bad) throw new Error(`illegal character U+${bad[0].codePointAt(0)!.toString(16)} at ${bad.index}`);
  let i = 0;
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n?/.exec(xml);
  if (decl) i = decl[0].length;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (text.includes("]]>")) throw new Error(`]]> in text at ${i}`);
    if (stack.length) stack.at(-1)!.text += decode(text, i);
    else if (text.trim()) throw new Error(`text outside the root element at ${i}`);
    if (lt === -1) break;
    i = lt + 1;
    if (xml[i] === "/") {
      const m = /^\/([A-Za-z_:][\w.:-]*)\s*>/.exec(xml.slice(i));
      const open = stack.pop();
      if (!m || !open || open.name !== m[1]) throw new Error(`mismatched close tag at ${lt}: expected </${open?.name}>`);
      i += m[0].length;
      continue;
    }
    const name = NAME.exec(xml.slice(i))?.[0];
    if (!name) throw new Error(`bad tag name at ${lt}`);
    if (root && !stack.length) throw new Error(`second root element at ${lt}`);
    i += name.length;
    const el: XmlElement = { name, attrs: {}, children: [], text: "" };
    for (;;) {
      const m = /^\s+([A-Za-z_:][\w.:-]*)="([^"]*)"/.exec(xml.slice(i));
      if (!m) break;
      if (m[1]! in el.attrs) throw new Error(`duplicate attribute ${m[1]} at ${i}`);
      el.attrs[m[1]!] = decode(m[2]!, i);
      i += m[0].length;
    }
    const end = /^\s*(\/?)>/.exec(xml.slice(i));
    if (!end) throw new Error(`malformed tag <${name}> at ${lt}`);
    i += end[0].length;
    if (stack.length) stack.at(-1)!.children.push(el);
    else root = el;
    if (!end[1]) stack.push(el);
  }
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)!.name}>`);
  if (!root) throw new Error("no root element");
  return root;
}

/** All descendants named `name`, depth-first. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  return el.children.flatMap((c) => [...(c.name === name ? [c] : []), ...findAll(c, name)]);
}
