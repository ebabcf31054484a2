// A lossless Corefile parser. The tokenizer covers every byte (words, quoted strings, comments,
// whitespace, newlines), so print(parse(x)) === x; the tree on top (server blocks, snippets,
// directives, nested blocks) records byte offsets so edits are splices that leave everything
// else untouched. Syntax follows CoreDNS's Caddyfile lexer: tokens are whitespace-separated,
// "{" and "}" are block delimiters only as whole tokens ({$ENV} is a word), "#" starts a comment
// at the start of a token, double quotes group words (with \" escapes, newlines allowed).

export type TokenType = 'word' | 'open' | 'close' | 'comment' | 'space' | 'newline';

export interface Token {
  type: TokenType;
  text: string;
  /** Byte offsets into the source: [start, end). */
  start: number;
  end: number;
  /** 1-based line of the token's first character. */
  line: number;
}

export class CorefileError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CorefileError';
  }
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const push = (type: TokenType, start: number, end: number, atLine: number) => tokens.push({ type, text: src.slice(start, end), start, end, line: atLine });
  while (i < src.length) {
    const c = src[i]!;
    const start = i;
    const atLine = line;
    if (c === '\n') {
      i++;
      line++;
      push('newline', start, i, atLine);
    } else if (c === ' ' || c === '\t' || c === '\r') {
      while (i < src.length && (src[i] === ' ' || src[i] === '\t' || src[i] === '\r')) i++;
      push('space', start, i, atLine);
    } else if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      push('comment', start, i, atLine);
    } else {
      // A word: runs to whitespace; a double quote opens a quoted section that may hold spaces.
      let quoted = false;
      while (i < src.length) {
        const d = src[i]!;
        if (quoted) {
          if (d === '\\' && i + 1 < src.length) {
            if (src[i + 1] === '\n') line++;
            i += 2;
            continue;
          }
          if (d === '"') quoted = false;
          if (d === '\n') line++;
          i++;
          continue;
        }
        if (d === ' ' || d === '\t' || d === '\r' || d === '\n') break;
        if (d === '"') quoted = true;
        i++;
      }
      if (quoted) throw new CorefileError('unterminated quoted string', atLine);
      const text = src.slice(start, i);
      push(text === '{' ? 'open' : text === '}' ? 'close' : 'word', start, i, atLine);
    }
  }
  return tokens;
}

export function printTokens(tokens: Token[]): string {
  return tokens.map((t) => t.text).join('');
}

export interface Directive {
  name: string;
  args: string[];
  /** The directive's tokens: its name and arguments (the nested block, if any, is `block`). */
  nameToken: Token;
  block?: Block;
  line: number;
  /** Offset of the first byte of the directive's line, and after its last byte (closing brace included). */
  lineStart: number;
  end: number;
}

export interface Block {
  open: Token;
  close: Token;
  directives: Directive[];
}

export interface ServerBlock {
  kind: 'server' | 'snippet';
  keys: string[];
  block: Block;
  line: number;
  lineStart: number;
  end: number;
}

export interface TopImport {
  kind: 'import';
  args: string[];
  line: number;
  lineStart: number;
  end: number;
}

export interface Corefile {
  source: string;
  tokens: Token[];
  items: (ServerBlock | TopImport)[];
}

/** Strips surrounding quotes and unescapes, as CoreDNS does when it reads an argument. */
export function unquote(word: string): string {
  if (!word.includes('"')) return word;
  let out = '';
  let quoted = false;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (quoted && c === '\\' && word[i + 1] === '"') {
      out += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else out += c;
  }
  return out;
}

/** Logical lines of significant tokens (words and braces), with the source offsets of each line. */
interface LineToks {
  toks: Token[];
  lineStart: number;
}

export function parseCorefile(source: string): Corefile {
  const tokens = tokenize(source);
  const lineStartOf = (offset: number) => source.lastIndexOf('\n', offset - 1) + 1;

  // Group significant tokens by line (a quoted multi-line word stays on its starting line).
  const lines: LineToks[] = [];
  let cur: Token[] = [];
  for (const t of tokens) {
    if (t.type === 'newline') {
      if (cur.length) lines.push({ toks: cur, lineStart: lineStartOf(cur[0]!.start) });
      cur = [];
    } else if (t.type === 'word' || t.type === 'open' || t.type === 'close') cur.push(t);
  }
  if (cur.length) lines.push({ toks: cur, lineStart: lineStartOf(cur[0]!.start) });

  // Flatten to a token stream with "end of line" markers so directives end at newlines.
  type Item = Token | 'EOL';
  const stream: Item[] = [];
  for (const l of lines) stream.push(...l.toks, 'EOL');
  let pos = 0;
  const peek = (): Item | undefined => stream[pos];

  const parseBlock = (open: Token): Block => {
    const directives: Directive[] = [];
    for (;;) {
      const t = peek();
      if (t === undefined) throw new CorefileError('unbalanced braces: "{" is never closed', open.line);
      if (t === 'EOL') {
        pos++;
        continue;
      }
      if (t.type === 'close') {
        pos++;
        return { open, close: t, directives };
      }
      if (t.type === 'open') throw new CorefileError('unexpected "{" without a directive name', t.line);
      directives.push(parseDirective());
    }
  };

  const parseDirective = (): Directive => {
    const nameToken = stream[pos++] as Token;
    const args: string[] = [];
    let block: Block | undefined;
    let end = nameToken.end;
    for (;;) {
      const t = peek();
      if (t === undefined || t === 'EOL') break;
      if (t.type === 'close') break; // closes the enclosing block: "fallthrough }"
      pos++;
      if (t.type === 'open') {
        block = parseBlock(t);
        end = block.close.end;
        break;
      }
      args.push(unquote(t.text));
      end = t.end;
    }
    return { name: nameToken.text, args, nameToken, block, line: nameToken.line, lineStart: lineStartOf(nameToken.start), end };
  };

  const items: (ServerBlock | TopImport)[] = [];
  while (pos < stream.length) {
    const t = peek()!;
    if (t === 'EOL') {
      pos++;
      continue;
    }
    if (t.type === 'close') throw new CorefileError('unbalanced braces: "}" without a matching "{"', t.line);
    if (t.type === 'open') throw new CorefileError('"{" without server block keys (like .:53)', t.line);
    if (t.text === 'import') {
      const d = parseDirective();
      if (d.block) throw new CorefileError('import does not take a block', d.line);
      items.push({ kind: 'import', args: d.args, line: d.line, lineStart: d.lineStart, end: d.end });
      continue;
    }
    // Server block or snippet: keys up to "{" on the same line; as in CoreDNS, a key ending in ","
    // continues the list on the next line.
    const keys: Token[] = [];
    while (pos < stream.length) {
      const k = peek()!;
      if (k === 'EOL' && keys[keys.length - 1]?.text.endsWith(',')) {
        pos++;
        continue;
      }
      if (k === 'EOL') throw new CorefileError(`expected "{" after server block keys "${keys.map((x) => x.text).join(' ')}"`, (keys[0] ?? t).line);
      pos++;
      if (k.type === 'open') {
        const block = parseBlock(k);
        const first = keys[0];
        if (!first) throw new CorefileError('"{" without server block keys', k.line);
        const isSnippet = first.text.startsWith('(') && first.text.endsWith(')');
        items.push({
          kind: isSnippet ? 'snippet' : 'server',
          keys: keys.flatMap((x) => x.text.split(',')).filter(Boolean),
          block,
          line: first.line,
          lineStart: lineStartOf(first.start),
          end: block.close.end,
        });
        break;
      }
      if (k.type === 'close') throw new CorefileError('unbalanced braces: "}" without a matching "{"', k.line);
      keys.push(k);
    }
  }
  return { source, tokens, items };
}

export function printCorefile(cf: Corefile): string {
  return printTokens(cf.tokens);
}

export const serverBlocks = (cf: Corefile): ServerBlock[] => cf.items.filter((i): i is ServerBlock => i.kind === 'server');

/** Parses a server block key: [dns://]zone[:port] -> zone (with a trailing dot) and port. */
export function parseServerKey(key: string): { zone: string; port: number | undefined; scheme: string } {
  const m = key.match(/^(?:([a-z]+):\/\/)?(.*?)(?::(\d+))?$/i)!;
  let zone = (m[2] ?? '').toLowerCase();
  if (zone === '') zone = '.';
  if (!zone.endsWith('.')) zone += '.';
  return { zone, port: m[3] === undefined ? undefined : Number(m[3]), scheme: (m[1] ?? 'dns').toLowerCase() };
}
