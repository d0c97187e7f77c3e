/** Structured logging: JSON lines for journald, a readable line in a terminal. Secrets never logged. */

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEYS = /pass(word)?|secret|token|sig$|privateKey|code$/i;

/** Removes credentials and presigned query strings from URLs anywhere in a string. */
export function redactUrl(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+(:[^/@\s]*)?@/gi, '$1***@')
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#]+)\?[^\s#]*/gi, '$1?***');
}

function redact(value: unknown, key = '', depth = 0): unknown {
  if (depth > 6) return '[deep]';
  if (typeof value === 'string') return key && SECRET_KEYS.test(key) ? '***' : redactUrl(value);
  if (value instanceof Error) return { message: redactUrl(value.message), code: (value as NodeJS.ErrnoException).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, '', depth + 1));
  if (value && typeof value === 'object') {
    const out: Fields = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) && v != null ? '***' : redact(v, k, depth + 1);
    return out;
  }
  return value;
}

export interface LogSink {
  write(line: string): void;
}

export function createLogger(opts: { level?: Level; pretty?: boolean; sink?: LogSink; base?: Fields } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const sink = opts.sink ?? process.stdout;
  const pretty = opts.pretty ?? false;
  const make = (base: Fields): Logger => {
    const emit = (level: Level, msg: string, fields?: Fields): void => {
      if (ORDER[level] < min) return;
      const clean = redact({ ...base, ...fields }) as Fields;
      const time = new Date().toISOString();
      if (pretty) {
        const extra = Object.entries(clean)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        sink.write(`${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${redactUrl(msg)}${extra ? '  ' + extra : ''}\n`);
      } else {
        sink.write(JSON.stringify({ time, level, msg: redactUrl(msg), ...clean }) + '\n');
      }
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (f) => make({ ...base, ...f }),
    };
  };
  return make(opts.base ?? {});
}

/** A logger that drops everything: for CLI commands that print their own output, and tests. */
export const silentLogger: Logger = createLogger({ sink: { write: () => undefined }, level: 'error' });
