/**
 * JSON lines on stdout, written by pino. Two layers keep secrets out:
 * every string of a line (the message, each field's value and key at any
 * depth, an error's message and stack) passes through `redact` from
 * core/secrets on its own, before pino serialises it, so an API key or a
 * Slack or GitHub token that slips into free text never reaches the log;
 * and pino's `redact` blanks fields that hold a credential by name
 * (`token`, `authorization`, ...) whatever their value looks like. Never a
 * pattern over the serialised line: one could swallow the fields between
 * two matches.
 *
 * A line looks like
 * `{"level":"info","time":"2026-11-29T19:44:39.000Z","component":"jobs","msg":"..."}`:
 * `level` is the name (`debug`, `info`, `warn`, `error`), `time` ISO 8601 UTC,
 * the child's fields and then the call's fields, `msg` last. An `Error` in
 * any field is written as `{type, message, code?, status?, slack?, stack, cause?, originals?}`;
 * the error a Bolt wrapper carries (`original`, `originals`) is its cause.
 */
import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { pino, type Logger as PinoLogger } from 'pino';
import { redact } from './core/secrets.ts';

export { redact };

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Fields that hold a credential by their name, wherever they sit in a line (pino `redact` paths). */
const CREDENTIAL_FIELDS = [
  'token',
  'accessToken',
  'access_token',
  'authorization',
  'privateKey',
  'signingSecret',
  'password',
  'plaintext',
].flatMap((name) => [name, `*.${name}`, `*.headers.${name}`]);

/** How many `cause`s deep an error is followed. */
const MAX_CAUSES = 5;
/** How deep a field's value is written; deeper parts are written as `[...]`. */
const MAX_DEPTH = 10;

/**
 * An error as a log field: what it is, where it was thrown and what caused
 * it. Only these properties: an error's other fields (an HTTP client's
 * request with its headers, a response body) are not written.
 */
export function serialiseError(error: Error, depth = 0): Record<string, unknown> {
  const e = error as Error & { code?: unknown; status?: unknown; data?: { error?: unknown } };
  const out: Record<string, unknown> = { type: redact(String(error.name)), message: redact(String(error.message)) };
  if (typeof e.code === 'string' || typeof e.code === 'number') out['code'] = typeof e.code === 'string' ? redact(e.code) : e.code;
  if (typeof e.status === 'number') out['status'] = e.status;
  if (typeof e.data?.error === 'string') out['slack'] = redact(e.data.error);
  if (error.stack) out['stack'] = redact(error.stack);
  // Bolt hands its error handler a wrapper (UnknownError) whose stack is Bolt's own: the listener's error is `original`.
  const { original, originals } = error as { original?: unknown; originals?: unknown };
  const cause = error.cause ?? (original instanceof Error ? original : undefined);
  if (cause !== undefined && depth < MAX_CAUSES) {
    out['cause'] = cause instanceof Error ? serialiseError(cause, depth + 1) : redact(String(cause));
  }
  // Bolt's MultipleListenerError: one error per listener that failed.
  if (Array.isArray(originals) && depth < MAX_CAUSES) {
    out['originals'] = originals.slice(0, MAX_CAUSES).map((o: unknown) => (o instanceof Error ? serialiseError(o, depth + 1) : redact(String(o))));
  }
  return out;
}

/**
 * A value as it may be written: each string redacted on its own (object keys
 * too), errors as `serialiseError` writes them, `toJSON` honoured, bigints
 * as text; cycles and parts deeper than `MAX_DEPTH` as `[...]`.
 */
function serialise(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return serialiseError(value);
  if (seen.has(value) || depth >= MAX_DEPTH) return '[...]';
  seen.add(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return serialise((toJSON as () => unknown).call(value), depth + 1, seen);
  if (Array.isArray(value)) return value.map((item) => serialise(item, depth + 1, seen));
  return serialiseFields(value as Record<string, unknown>, depth + 1, seen);
}

function serialiseFields(fields: Record<string, unknown> | undefined, depth = 0, seen: WeakSet<object> = new WeakSet()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields ?? {})) {
    // A data property, so a key such as `__proto__` stays a plain key.
    Object.defineProperty(out, redact(k), { value: serialise(v, depth, seen), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

class PinoBackedLogger implements Logger {
  constructor(private readonly pino: PinoLogger) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    if (this.pino.isLevelEnabled('debug')) this.pino.debug(serialiseFields(fields), redact(message));
  }

  info(message: string, fields?: Record<string, unknown>): void {
    if (this.pino.isLevelEnabled('info')) this.pino.info(serialiseFields(fields), redact(message));
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    if (this.pino.isLevelEnabled('warn')) this.pino.warn(serialiseFields(fields), redact(message));
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.pino.error(serialiseFields(fields), redact(message));
  }

  child(fields: Record<string, unknown>): Logger {
    return new PinoBackedLogger(this.pino.child(serialiseFields(fields)));
  }
}

/**
 * A logger at `level` that hands each finished line (without its newline)
 * to `write`; by default, stdout. `base` fields go on every line.
 */
export function createLogger(
  level: Level = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  base: Record<string, unknown> = {},
): Logger {
  const destination = {
    write(chunk: string) {
      write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
    },
  };
  const logger = pino(
    {
      level,
      // No pid or hostname: the process manager or the log shipper adds where a line came from.
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: CREDENTIAL_FIELDS, censor: '[redacted]' },
    },
    destination,
  );
  return new PinoBackedLogger(Object.keys(base).length > 0 ? logger.child(serialiseFields(base)) : logger);
}

/** Bolt and its Web API client log through ours, so their lines are redacted too. */
export function boltLogger(logger: Logger, level: Level): BoltLogger {
  const join = (parts: unknown[]) => parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(serialise(p)))).join(' ');
  let current = level;
  const log = logger.child({ component: 'bolt' });
  return {
    debug: (...m) => log.debug(join(m)),
    info: (...m) => log.info(join(m)),
    warn: (...m) => log.warn(join(m)),
    error: (...m) => log.error(join(m)),
    setLevel: (l) => {
      current = l as Level;
    },
    getLevel: () => current as LogLevel,
    setName: () => {},
  };
}
