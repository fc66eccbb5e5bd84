import { describe, expect, it } from 'vitest';
import { type CandidateResult, matchLabels, parseLabelsCsv } from '../../operations/calibration/labels.ts';

describe('parseLabelsCsv', () => {
  it('reads a BOM, quoted and multi-line cells, CRLF and LF, and names each unusable row as a warning', () => {
    const text = [
      '\uFEFFkey,Label,comment',
      'uploads/b/a.jpg,attack,printed photo',
      '"uploads/b/with, comma.jpg",BONA_FIDE,"two',
      'lines"',
      'uploads/b/c.jpg,maybe,',
      'uploads/b/a.jpg,attack,again',
      'uploads/b/d.jpg,attack,',
      'uploads/b/d.jpg,bona_fide,',
      ',attack,',
      '',
    ].join('\r\n');
    const file = parseLabelsCsv(text.replace('two\r\nlines', 'two\nlines'));
    expect(file.idColumn).toBe('key');
    expect(file.rows).toEqual([
      { id: 'uploads/b/a.jpg', label: 'attack', line: 2 },
      { id: 'uploads/b/with, comma.jpg', label: 'bona_fide', line: 3 },
    ]);
    expect(file.warnings).toEqual([
      'line 5: unknown label "maybe" for uploads/b/c.jpg (expected bona_fide or attack); row skipped',
      'line 6: duplicate of line 2 (uploads/b/a.jpg, attack); the first is kept',
      'line 8: uploads/b/d.jpg is labelled bona_fide here and attack on line 7; both are left out',
      'line 9: empty key; row skipped',
    ]);
  });

  it('prefers selfie_id, then key, then subject_id, and refuses a header without a label column', () => {
    expect(parseLabelsCsv('subject_id,key,label\nx,y,attack\n').idColumn).toBe('key');
    expect(parseLabelsCsv('subject_id,label\nx,attack\n').rows[0]?.id).toBe('x');
    expect(() => parseLabelsCsv('key,verdict\nx,attack\n')).toThrow(
      /label column and one of selfie_id, key, subject_id/,
    );
    expect(() => parseLabelsCsv('')).toThrow(/empty/);
  });
});

describe('matchLabels', () => {
  const results: CandidateResult[] = [
    {
      selfieId: 's1',
      key: 'k1',
      subjectId: 'app-1',
      decision: 'VERIFIED',
      vendorStatus: 'VERIFIED',
      liveScore: 90,
      popScore: 10,
    },
    {
      selfieId: 's2',
      key: 'k2',
      subjectId: 'app-1',
      decision: 'REVIEW',
      vendorStatus: 'VERIFIED',
      liveScore: 40,
      popScore: 60,
    },
    { selfieId: 's3', key: 'k3', decision: 'REJECTED', liveScore: null, popScore: null },
  ];

  it('labels every check of a subject, and warns about labels that match nothing or have no verdict', () => {
    const bySubject = matchLabels(
      parseLabelsCsv('subject_id,label\napp-1,attack\nnobody,bona_fide\n'),
      results,
    );
    expect(bySubject.samples.map((s) => [s.selfieId, s.label])).toEqual([
      ['s1', 'attack'],
      ['s2', 'attack'],
    ]);
    expect(bySubject.warnings).toEqual([
      'line 3: subject_id nobody matches no decided result in the selection',
    ]);

    const byKey = matchLabels(parseLabelsCsv('key,label\nk3,attack\n'), results);
    expect(byKey.samples).toEqual([]);
    expect(byKey.warnings).toEqual(['line 2: k3 has no vendor verdict (decision REJECTED); not counted']);
  });
});
