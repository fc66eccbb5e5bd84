import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { preflightSelfie } from '../../shared/preflight/preflight-selfie.ts';

const samplesDir = new URL('../../samples/', import.meta.url);

interface ReadmeRow {
  file: string;
  outcome: string;
}

/** The rows of samples/README.md's table: first column is the file, last is the expected outcome. */
async function readmeRows(): Promise<ReadmeRow[]> {
  const readme = await readFile(new URL('README.md', samplesDir), 'utf8');
  return readme
    .split('\n')
    .filter((line) => /^\| `[^`]+` \|/.test(line))
    .map((line) => {
      const cells = line.split('|').map((cell) => cell.trim());
      return { file: (cells[1] ?? '').replaceAll('`', ''), outcome: cells.at(-2) ?? '' };
    });
}

async function sample(file: string): Promise<Buffer> {
  return readFile(new URL(file, samplesDir));
}

describe('samples/ and its README agree with each other and with preflight', () => {
  it('lists every file in samples/ exactly once, and nothing that is missing', async () => {
    // Prepare
    const files = (await readdir(samplesDir)).filter((name) => name !== 'README.md').sort();

    // Act
    const listed = (await readmeRows()).map((row) => row.file);

    // Assess
    expect([...listed].sort()).toEqual(files);
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('stays small enough to commit', async () => {
    // Prepare / Act
    const files = await readdir(samplesDir);
    const sizes = await Promise.all(files.map(async (file) => (await sample(file)).length));

    // Assess
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('rejects every bad-* sample with the reason and format the README gives', async () => {
    // Prepare
    const bad = (await readmeRows()).filter((row) => row.file.startsWith('bad-'));
    expect(bad.length).toBeGreaterThanOrEqual(6);

    // Act / Assess
    for (const row of bad) {
      const expected = /^REJECTED: `([A-Z_]+)` \(detected `([a-z0-9-]+)`\)$/.exec(row.outcome);
      if (!expected) throw new Error(`${row.file}: README outcome "${row.outcome}" names no rejection`);
      const result = await preflightSelfie(await sample(row.file));
      if (result.ok) throw new Error(`${row.file} passed preflight`);
      expect([row.file, result.rejection.reason, result.rejection.detectedFormat]).toEqual([
        row.file,
        expected[1],
        expected[2],
      ]);
    }
  });

  it('passes every face through preflight, and each face has its own bytes', async () => {
    // Prepare
    const faces = (await readmeRows()).filter(
      (row) => row.file.startsWith('face-') && !row.outcome.includes('duplicateOf'),
    );
    expect(faces.length).toBeGreaterThanOrEqual(10);

    // Act
    const results = await Promise.all(
      faces.map(async (row) => [row, await preflightSelfie(await sample(row.file))] as const),
    );

    // Assess
    for (const [row, result] of results) {
      expect(row.outcome).toMatch(/VERIFIED or NOT_VERIFIED/);
      if (!result.ok) throw new Error(`${row.file}: ${result.rejection.message}`);
    }
    const hashes = results.map(([, result]) => result.sha256);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(new Set(results.map(([, result]) => (result.ok ? result.format : '')))).toEqual(
      new Set(['jpeg', 'png', 'webp']),
    );
  });

  it('has a copy whose bytes and SHA-256 equal the face the README says it duplicates', async () => {
    // Prepare
    const copies = (await readmeRows()).filter((row) => row.outcome.includes('duplicateOf'));
    expect(copies.length).toBeGreaterThanOrEqual(1);

    // Act / Assess
    for (const copy of copies) {
      const original = /reuses the outcome of `([^`]+)`/.exec(copy.outcome)?.[1];
      if (!original) throw new Error(`${copy.file}: README names no original`);
      const [copyBytes, originalBytes] = await Promise.all([sample(copy.file), sample(original)]);
      expect(copyBytes.equals(originalBytes)).toBe(true);
      const [a, b] = await Promise.all([preflightSelfie(copyBytes), preflightSelfie(originalBytes)]);
      expect(a.ok && b.ok).toBe(true);
      expect(a.sha256).toBe(b.sha256);
    }
  });

  it('includes an EXIF-rotated face that comes out upright', async () => {
    // Prepare / Act
    const result = await preflightSelfie(await sample('face-07-exif-rotated.jpg'));

    // Assess
    if (!result.ok) throw new Error(result.rejection.message);
    expect(result.original.orientation).toBe(6);
    expect(result.final.height).toBeGreaterThan(result.final.width);
  });
});
