/** The docs stay complete: README ≤ 12 KB, one docs page per command, no links to ../shared (users do not have it). */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { buildProgram } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';
import { REPO_ROOT } from './support/shared.js';

describe('docs', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  it('README is at most 12 KB and links each command page', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(12 * 1024);
    for (const c of buildProgram(memoryIO()).commands.map((x) => x.name())) {
      expect(fs.existsSync(path.join(REPO_ROOT, 'docs', `${c}.md`)), `docs/${c}.md`).toBe(true);
      expect(readme, `README links docs/${c}.md`).toContain(`(docs/${c}.md)`);
    }
  });
  it('README has no links into ../shared', () => {
    expect(readme).not.toMatch(/\]\(\.\.\/shared/);
  });
});
