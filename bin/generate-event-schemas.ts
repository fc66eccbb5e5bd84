// `npm run schemas`: writes the JSON Schema of every published event into docs/events/
// (test/events/published-schemas.test.ts fails when a checked-in file differs from the code).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { publishedEvents, renderEventSchema } from '../operations/published-schemas.ts';

const dir = join(import.meta.dirname, '..', 'docs', 'events');
mkdirSync(dir, { recursive: true });
for (const event of publishedEvents) {
  writeFileSync(join(dir, event.file), renderEventSchema(event));
  console.log(`wrote docs/events/${event.file}`);
}
