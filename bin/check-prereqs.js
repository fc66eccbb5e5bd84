#!/usr/bin/env node
// Runs before `npm test` (after ensure-deps): the system packages the suites need beyond npm are
// there, or the run stops here, before any suite, with the one command that installs what is
// missing. Uses only Node built-ins.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where test/ops/pipeline-ops.test.ts opens the HTML report (Debian's package). */
const CHROMIUM = '/usr/bin/chromium';
const MIN_JAVA = 17;

/** The major version `java -version` reports ("1.8.0_402" is 8, "17.0.15" is 17), or undefined without java. */
function javaMajorVersion() {
  const out = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (out.error || out.status !== 0) return undefined;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${out.stderr}${out.stdout}`);
  if (!match) return 0;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major;
}

const missing = [];
const java = javaMajorVersion();
if (java === undefined) {
  missing.push({
    what: `Java ${MIN_JAVA}+ (DynamoDB Local): \`java\` is not on PATH`,
    apt: 'openjdk-17-jre-headless',
  });
} else if (java < MIN_JAVA) {
  missing.push({
    what: `Java ${MIN_JAVA}+ (DynamoDB Local): found Java ${java}`,
    apt: 'openjdk-17-jre-headless',
  });
}
if (!existsSync(CHROMIUM)) {
  missing.push({ what: `Chromium (the HTML report test): ${CHROMIUM} does not exist`, apt: 'chromium' });
}

if (missing.length > 0) {
  console.error(
    [
      'npm test needs system packages that are missing:',
      ...missing.map((m) => `  - ${m.what}`),
      'Install them (Debian/Ubuntu), then run npm test again:',
      `  sudo apt-get install -y ${missing.map((m) => m.apt).join(' ')}`,
    ].join('\n'),
  );
  process.exit(1);
}
