/**
 * JSON lines on stdout. Every string in a line passes through `redact`, so an API key or a
 * Slack token that slips into a message or an error never reaches the log.
 */
import { LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { redact } from './core/secrets.ts';

export { redact };

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const data = (value as { data?: { error?: unknown } }).data;
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code, slack: data?.error };
  }
  return value;
}

export function createLogger(
  level: Level = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  base: Record<string, unknown> = {},
): Logger {
  const emit = (lvl: Level, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg: message, ...base };
    for (const [k, v] of Object.entries(fields ?? {})) entry[k] = serialise(v);
    // Each string on its own: a pattern over the whole line could swallow the fields between two matches.
    write(JSON.stringify(entry, (_key, value: unknown) => (typeof value === 'string' ? redact(value) : value)));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

/** Bolt and its Web API client log through ours, so their lines are redacted too. */
export function boltLogger(logger: Logger, level: Level): BoltLogger {
  // Objects are serialised with each string redacted on its own, never by a pattern over their JSON.
  const join = (parts: unknown[]) =>
    parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(serialise(p), (_key, value: unknown) => (typeof value === 'string' ? redact(value) : value)))).join(' ');
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
