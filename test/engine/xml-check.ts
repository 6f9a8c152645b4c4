/**
 * A strict little XML reader for the tests (no DTDs, no CDATA, no processing instructions other
 * than none at all): throws on anything not well-formed — unbalanced or crossed tags, unquoted or
 * repeated attributes, a raw "<" or "&" in text or values, an unknown entity — and decodes entities.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw "<" in ${where}: ${raw}`);
  return raw.replace(/&([^;]*);?/g, (whole, entity: string) => {
    if (!whole.endsWith(';')) throw new Error(`unterminated entity in ${where}: ${raw}`);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: '\'' };
    if (entity in named) return named[entity]!;
    const numeric = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(entity);
    if (numeric) return String.fromCodePoint(numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]));
    throw new Error(`unknown entity &${entity}; in ${where}`);
  });
}

export function parseXml(text: string): XmlElement {
  let at = 0;
  const skipMisc = () => {
    for (;;) {
      const rest = text.slice(at);
      const space = /^\s+/.exec(rest);
      if (space) {
        at += space[0].length;
        continue;
      }
      if (rest.startsWith('<!--')) {
        const end = text.indexOf('-->', at + 4);
        if (end < 0) throw new Error('unterminated comment');
        if (text.slice(at + 4, end).includes('--')) throw new Error('"--" inside a comment');
        at = end + 3;
        continue;
      }
      return;
    }
  };
  const element = (): XmlElement => {
    if (text[at] !== '<') throw new Error(`expected "<" at ${at}`);
    at++;
    const name = NAME.exec(text.slice(at))?.[0];
    if (!name) throw new Error(`bad tag name at ${at}`);
    at += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      const rest = text.slice(at);
      const close = /^\s*(\/?)>/.exec(rest);
      if (close) {
        at += close[0].length;
        if (close[1] === '/') return { name, attributes, children: [], text: '' };
        break;
      }
      const attribute = /^\s+([A-Za-z_][A-Za-z0-9_.:-]*)\s*=\s*(?:'([^']*)'|"([^"]*)")/.exec(rest);
      if (!attribute) throw new Error(`bad attribute in <${name}> at ${at}: ${rest.slice(0, 40)}`);
      if (attribute[1]! in attributes) throw new Error(`attribute ${attribute[1]} repeated in <${name}>`);
      attributes[attribute[1]!] = decode(attribute[2] ?? attribute[3]!, `attribute ${attribute[1]} of <${name}>`);
      at += attribute[0].length;
    }
    const children: XmlElement[] = [];
    let content = '';
    for (;;) {
      const next = text.indexOf('<', at);
      if (next < 0) throw new Error(`<${name}> is not closed`);
      content += decode(text.slice(at, next), `the text of <${name}>`);
      at = next;
      if (text.startsWith('</', at)) {
        const end = new RegExp(`^</${name.replace(/[.]/g, '\\.')}\\s*>`).exec(text.slice(at));
        if (!end) throw new Error(`<${name}> closed by ${text.slice(at, at + 30)}`);
        at += end[0].length;
        return { name, attributes, children, text: content };
      }
      if (text.startsWith('<!--', at)) {
        skipMisc();
        continue;
      }
      children.push(element());
    }
  };
  if (text.startsWith('<?xml')) at = text.indexOf('?>') + 2;
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== text.length) throw new Error(`content after the root element at ${at}`);
  return root;
}

/** Children of `element` named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

/** The single child named `name` (throws when absent or repeated). */
export function child(element: XmlElement, name: string): XmlElement {
  const found = childrenNamed(element, name);
  if (found.length !== 1) throw new Error(`<${element.name}> has ${found.length} <${name}> children`);
  return found[0]!;
}
