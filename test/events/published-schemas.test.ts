import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishedEvents, renderEventSchema } from '../../operations/published-schemas.ts';
import { toEventEnvelope } from '../../shared/events/outcome-event.ts';
import { repoRoot } from '../support/cli-runs.ts';
import { outcomeDetail } from './support.ts';

const docsDir = join(repoRoot, 'docs', 'events');

describe('published event schemas (docs/events/)', () => {
  it.each(publishedEvents.map((e) => [e.file, e] as const))(
    '%s is what `npm run schemas` generates from the zod schema today',
    (file, event) => {
      // Act
      const checkedIn = readFileSync(join(docsDir, file), 'utf8');
      // Assess
      expect(checkedIn, `docs/events/${file} drifted from the code: run \`npm run schemas\``).toBe(
        renderEventSchema(event),
      );
    },
  );

  it('holds no schema file that no published event generates', () => {
    const files = readdirSync(docsDir).filter((f) => f.endsWith('.schema.json'));
    expect(files.sort()).toEqual(publishedEvents.map((e) => e.file).sort());
  });

  it('requires exactly the fields an outcome event carries, in the envelope and in its detail', () => {
    // Prepare
    const schema = JSON.parse(
      readFileSync(join(docsDir, 'selfie-verification-outcome.v1.schema.json'), 'utf8'),
    );
    // Act
    const envelope = toEventEnvelope(outcomeDetail(), {
      id: 'evt-1',
      time: '2026-11-26T10:00:00Z',
      account: '123456789012',
      region: 'eu-west-1',
    });
    // Assess
    expect([...schema.required].sort()).toEqual(Object.keys(envelope).sort());
    expect([...schema.properties.detail.required].sort()).toEqual(Object.keys(envelope.detail).sort());
    expect(schema.properties.detail.properties.decision.enum).toContain(envelope.detail.decision);
  });
});
