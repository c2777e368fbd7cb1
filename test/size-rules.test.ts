/**
 * Sizes that keep files readable (issue 16, docs/architecture.md): no source file over 400 lines and
 * no function over 80 lines (from its first token to its closing brace, nested functions counted in
 * their parent too). Parsed with the TypeScript compiler API, so arrow functions, methods, callbacks
 * and object-literal functions all count.
 *
 * ALLOWED is empty: every source file and function is within the limits. An entry (with the reason)
 * may only be added for generated tables; an entry that is no longer needed fails the last test.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/shared.js';

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;

/** `file` (file size) or `file:function` (function size), paths relative to src/. */
const ALLOWED: Readonly<Record<string, string>> = {};

interface SizeFinding {
  /** `file` or `file:function` (the ALLOWED key). */
  readonly key: string;
  readonly lines: number;
  /** file:line for the message. */
  readonly where: string;
}

/** A readable name for a function node: its own name, its variable/property/method name, or `.callee` of the call it is passed to, prefixed by the enclosing named functions. */
function functionName(n: ts.Node, sf: ts.SourceFile): string {
  const own = (x: ts.Node): string | undefined => {
    const named = x as ts.Node & { name?: ts.Node };
    if ((ts.isFunctionDeclaration(x) || ts.isMethodDeclaration(x) || ts.isFunctionExpression(x)) && named.name) return named.name.getText(sf);
    const p = x.parent;
    if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))) return p.name.getText(sf);
    if (p && ts.isCallExpression(p) && p.arguments.includes(x as ts.Expression)) {
      const callee = p.expression;
      return ts.isPropertyAccessExpression(callee) ? `.${callee.name.getText(sf)}` : `${callee.getText(sf)}()`;
    }
    if (ts.isConstructorDeclaration(x)) return 'constructor';
    if (ts.isGetAccessor(x) || ts.isSetAccessor(x)) return x.name.getText(sf);
    return undefined;
  };
  const parts: string[] = [];
  for (let x: ts.Node | undefined = n; x; x = x.parent) {
    if (ts.isFunctionLike(x)) {
      const nm = own(x);
      if (nm !== undefined) parts.unshift(nm);
      else if (x === n) parts.unshift(`<anonymous@${sf.getLineAndCharacterOfPosition(x.getStart(sf)).line + 1}>`);
    }
  }
  return parts.join('/');
}

/** Files over MAX_FILE_LINES and functions over MAX_FUNCTION_LINES in `text` (`rel`: path relative to src/). */
function sizeFindings(rel: string, text: string): SizeFinding[] {
  const out: SizeFinding[] = [];
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_FILE_LINES) out.push({ key: rel, lines, where: rel });
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const len = sf.getLineAndCharacterOfPosition(n.end).line - start + 1;
      if (len > MAX_FUNCTION_LINES) out.push({ key: `${rel}:${functionName(n, sf)}`, lines: len, where: `${rel}:${start + 1}` });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const SRC = path.join(REPO_ROOT, 'src');
const files = (fs.readdirSync(SRC, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.split(path.sep).join('/'))
  .sort();
const findings = files.flatMap((f) => sizeFindings(f, fs.readFileSync(path.join(SRC, f), 'utf8')));

describe('size rules', () => {
  it(`no source file over ${MAX_FILE_LINES} lines (outside the allow-list)`, () => {
    const bad = findings.filter((x) => !x.key.includes(':') && !(x.key in ALLOWED)).map((x) => `${x.where}: ${x.lines} lines`);
    expect(bad).toEqual([]);
  });

  it(`no function over ${MAX_FUNCTION_LINES} lines (outside the allow-list)`, () => {
    const bad = findings.filter((x) => x.key.includes(':') && !(x.key in ALLOWED)).map((x) => `${x.where} ${x.key.split(':')[1]}: ${x.lines} lines`);
    expect(bad).toEqual([]);
  });

  it('the allow-list only names what is still over the limits', () => {
    const found = new Set(findings.map((x) => x.key));
    expect(Object.keys(ALLOWED).filter((k) => !found.has(k))).toEqual([]);
  });

  it('the rules catch a long function, a long callback and a long file', () => {
    const body = (n: number): string => Array.from({ length: n }, (_, i) => `  const x${i} = ${i};`).join('\n');
    const src = `export function short() {\n${body(10)}\n}\nexport const long = () => {\n${body(79)}\n};\nprogram.command('x').action(async () => {\n${body(80)}\n});\n`;
    expect(sizeFindings('x.ts', src).map((x) => [x.key, x.lines])).toEqual([
      ['x.ts:long', 81],
      ['x.ts:.action', 82],
    ]);
    expect(sizeFindings('y.ts', `${'let a = 1;\n'.repeat(401)}`).map((x) => x.key)).toEqual(['y.ts']);
    expect(sizeFindings('y.ts', `${'let a = 1;\n'.repeat(400)}`)).toEqual([]);
  });
});
