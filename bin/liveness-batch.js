#!/usr/bin/env node
// Runs the TypeScript CLI from source through tsx, so `npx liveness-batch` needs no build step.
import { register } from 'tsx/esm/api';

// Under Node 20 the AWS SDK warns (NodeVersionSupportWarning) that its 2027 releases need Node 22,
// after the command's own output; nothing a user of this CLI can act on there (the README says
// which Node versions are supported). The SDK's documented switch, set before any client exists.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The handlers import the Powertools Tracer, whose X-Ray SDK otherwise installs an async_hooks
// destroy hook on every promise at import (~10% of the local host's CPU in a --cpu-prof). Nothing
// is traced outside Lambda, so the CLI starts the X-Ray SDK in manual mode, which installs none.
process.env.AWS_XRAY_MANUAL_MODE ??= '1';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
