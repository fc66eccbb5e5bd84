import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Plain-text lines Powertools prints that are expected locally (a worker invocation with no metrics): filed, not shown. */
const FILED_ONLY = [/^No application metrics to publish/];

const LEVELS: Record<string, number> = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24 };

type Write = typeof process.stdout.write;

/**
 * Owns the terminal while the local cloud runs in this process. stdout carries only the command's
 * own result (the summary table or the JSON object); the handlers' Powertools logs, which Lambda
 * writes to stdout, are appended to a log file and shown on stderr from `minLevel` up, above the
 * progress line, which is redrawn after them.
 */
export class Terminal {
  private readonly stdoutWrite: Write;
  private readonly stderrWrite: Write;
  private statusText = '';
  private lastPlainStatus = 0;
  private logFd: number | undefined;
  readonly isTty: boolean;

  constructor(
    private readonly options: { minLevel: 'INFO' | 'WARN'; logFile?: string; plainStatusEveryMs?: number },
  ) {
    this.isTty = Boolean(process.stderr.isTTY);
    this.stdoutWrite = process.stdout.write.bind(process.stdout);
    this.stderrWrite = process.stderr.write.bind(process.stderr);
    if (options.logFile) mkdirSync(dirname(options.logFile), { recursive: true });
    process.stdout.write = this.capture() as Write;
    process.stderr.write = this.capture() as Write;
  }

  /** The command's result, on stdout. */
  out(text: string): void {
    this.stdoutWrite(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A message for the user, on stderr (above the progress line). */
  note(text: string): void {
    this.above(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The progress line: redrawn in place on a TTY, printed every few seconds otherwise. */
  status(text: string, force = false): void {
    if (this.isTty) {
      this.statusText = text;
      this.stderrWrite(`\r\x1b[K${text}`);
      return;
    }
    const now = Date.now();
    if (force || now - this.lastPlainStatus >= (this.options.plainStatusEveryMs ?? 5000)) {
      this.lastPlainStatus = now;
      this.stderrWrite(`${text}\n`);
    }
  }

  /** Ends the progress line so what follows starts on a fresh line. */
  endStatus(): void {
    if (this.isTty && this.statusText) this.stderrWrite('\n');
    this.statusText = '';
  }

  restore(): void {
    this.endStatus();
    process.stdout.write = this.stdoutWrite;
    process.stderr.write = this.stderrWrite;
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
  }

  private above(text: string): void {
    if (this.isTty && this.statusText) {
      this.stderrWrite(`\r\x1b[K${text}${this.statusText}`);
    } else {
      this.stderrWrite(text);
    }
  }

  private capture() {
    return (chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      for (const line of text.split('\n')) {
        if (line.trim()) this.foreignLine(line);
      }
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') done();
      return true;
    };
  }

  private file(line: string): void {
    if (!this.options.logFile) return;
    try {
      // One descriptor for the whole run: a run files several lines per selfie.
      this.logFd ??= openSync(this.options.logFile, 'a');
      writeSync(this.logFd, `${line}\n`);
    } catch {
      // The log file is a convenience; the terminal still shows what matters.
    }
  }

  /** Lines written by anything else: Powertools JSON logs are filed and filtered; the rest is shown. */
  private foreignLine(line: string): void {
    let log: Record<string, unknown> | undefined;
    if (line.startsWith('{')) {
      try {
        log = JSON.parse(line) as Record<string, unknown>;
      } catch {
        log = undefined;
      }
    }
    if (!log || typeof log.level !== 'string') {
      if (FILED_ONLY.some((pattern) => pattern.test(line))) this.file(line);
      else this.above(`${line}\n`);
      return;
    }
    this.file(line);
    if ((LEVELS[log.level] ?? 0) >= (LEVELS[this.options.minLevel] ?? 0)) this.above(`${formatLog(log)}\n`);
  }
}

/** One readable line per log: level, service, message, and the ids and error that explain it. */
export function formatLog(log: Record<string, unknown>): string {
  const extras: string[] = [];
  for (const key of ['selfieId', 'messageId', 'attempt', 'decision', 'lastError', 'errorCode']) {
    if (log[key] !== undefined) extras.push(`${key}=${String(log[key])}`);
  }
  const error = log.error as { message?: unknown } | undefined;
  if (error && typeof error === 'object' && error.message) extras.push(`error=${String(error.message)}`);
  if (Array.isArray(log.failures)) extras.push(`failures=${JSON.stringify(log.failures)}`);
  const text = `${String(log.level)} ${String(log.service ?? '')}: ${String(log.message ?? '')}${
    extras.length ? `  ${extras.join(' ')}` : ''
  }`;
  return text.length > 400 ? `${text.slice(0, 397)}...` : text;
}
