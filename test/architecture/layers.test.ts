import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The folder layout is the architecture (docs/architecture.md): each layer imports only from the
 * layers below it. This test reads every import of the product code and fails on one that runs back up.
 */
const root = join(import.meta.dirname, '..', '..');

/** Which layers each layer may import from (besides itself). */
const mayImport: Record<string, readonly string[]> = {
  toolkit: [],
  shared: [],
  functions: ['shared'],
  sandbox: ['shared', 'toolkit'],
  operations: ['shared', 'toolkit'],
  infra: ['shared'],
  'local-cloud': ['shared', 'functions', 'sandbox', 'operations', 'infra', 'toolkit'],
  cli: ['shared', 'functions', 'sandbox', 'operations', 'infra', 'local-cloud', 'toolkit'],
  bin: ['cli', 'shared', 'operations'],
  bench: [
    'shared',
    'functions',
    'sandbox',
    'operations',
    'infra',
    'local-cloud',
    'cli',
    'toolkit',
    'testkit',
  ],
  testkit: ['shared'],
};

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === 'node_modules' || name.startsWith('.')) continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|js|mjs|cjs)$/.test(name)) found.push(relative(root, path));
    }
  };
  walk(join(root, folder));
  return found;
}

/** The repository files one file imports, by its relative import specifiers. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)];
  return specifiers.map((m) => normalize(join(dirname(file), m[1] as string)));
}

const layerOf = (file: string) => file.split('/')[0] as string;

describe('the layers import only downward (docs/architecture.md)', () => {
  const files = Object.keys(mayImport).flatMap(sourceFiles);

  it('finds the product code', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it('has no import that runs back up or sideways into a layer it may not use', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      for (const target of importsOf(file)) {
        const targetLayer = layerOf(target);
        if (targetLayer === layer) continue;
        if (!(mayImport[layer] ?? []).includes(targetLayer)) wrong.push(`${file} -> ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('keeps shared/ a Lambda-only core: every file in it is reached from a handler in functions/', () => {
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const target of importsOf(file)) visit(target);
    };
    for (const handler of sourceFiles('functions')) visit(handler);
    const unreached = sourceFiles('shared').filter((file) => !reached.has(file));
    expect(unreached).toEqual([]);
  });
});
