/**
 * The bench process's environment, imported before anything else in bench/index.ts: ES modules
 * evaluate their imports before their own body, and bench/aws-cost.ts imports the handlers, whose
 * Powertools Tracer loads the X-Ray SDK. In automatic mode that SDK installs an async_hooks destroy
 * hook on every promise at import, which the CLI avoids (bin/liveness-batch.js) and which would make
 * the in-process measurements (the essential work, the latency host) pay a cost `run` does not.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_XRAY_MANUAL_MODE ??= '1';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
