import { createHash } from 'node:crypto';
/**
 * The one configuration file: YAML checked by a strict zod schema. Unknown keys are errors and every
 * error is reported at once with its path, so a typo never silently becomes a default.
 */
import { readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import * as z from './zod.js';
import { ID_PATTERN } from './ids.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** A byte count: an integer, or a string such as "2GiB" or "500 MB". */
const bytes = z.pipe(
  z.union([z.number().check(z.int(), z.positive()), z.string()]),
  z.transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(value);
    const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
    if (!m || unit === undefined) {
      ctx.issues.push({ code: 'custom', message: 'expected a byte size such as 2147483648, "2GiB" or "500MB"', input: value });
      return z.NEVER;
    }
    return Math.floor(Number(m[1]) * unit);
  }),
);

const id = z.string().check(z.regex(ID_PATTERN, 'expected an identifier: letters, digits, ".", "_" or "-", at most 64 characters'));
const pin = z.number().check(z.int(), z.gte(0), z.lte(63));
const requesterKey = z.string().check(z.regex(/^[A-Za-z0-9_-]{43}$/, 'expected a requester public key: 43 characters of base64url'));

const button = z.strictObject({
  pin: z._default(pin, 17),
  activeLow: z._default(z.boolean(), true),
  debounceMs: z._default(z.number().check(z.int(), z.gte(0), z.lte(500)), 30),
  longPressSeconds: z._default(z.number().check(z.gte(1), z.lte(30)), 5),
});
const pir = z.strictObject({
  pin: z._default(pin, 27),
  activeLow: z._default(z.boolean(), false),
  rearmSeconds: z._default(z.number().check(z.gte(0), z.lte(600)), 10),
});
const output = z.strictObject({ pin, activeLow: z._default(z.boolean(), false) });
const rtspUrl = z.string().check(z.regex(/^rtsps?:\/\/\S+$/, 'expected an rtsp:// or rtsps:// URL'));
const fraction = z.number().check(z.gte(0), z.lte(1));
const motionZone = z.strictObject({
  kind: z.enum(['include', 'exclude']),
  // Corners as fractions of the frame, [0, 0] top left: the zone survives a change of resolution.
  points: z.array(z.tuple([fraction, fraction])).check(z.minLength(3), z.maxLength(64)),
});

export const configSchema = z.strictObject({
  device: z.prefault(
    z.strictObject({
      id: z._default(id, 'frontdoor'),
      name: z._default(z.string().check(z.minLength(1), z.maxLength(80)), 'Front door'),
      location: z.optional(z.strictObject({ lat: z.number().check(z.gte(-90), z.lte(90)), lon: z.number().check(z.gte(-180), z.lte(180)) })),
    }),
    {},
  ),
  runtime: z.prefault(z.strictObject({ dir: z.optional(z.string().check(z.minLength(1))) }), {}),
  ffmpeg: z.prefault(z.strictObject({ path: z.optional(z.string().check(z.minLength(1))) }), {}),
  camera: z.prefault(
    z
      .strictObject({
        source: z._default(z.enum(['synthetic', 'rtsp', 'onvif', 'v4l2', 'libcamera']), 'synthetic'),
        stallSeconds: z._default(z.number().check(z.gte(2), z.lte(120)), 10),
        connectTimeoutSeconds: z._default(z.number().check(z.gte(1), z.lte(60)), 10),
        synthetic: z.prefault(
          z.strictObject({
            width: z._default(z.number().check(z.int(), z.gte(64), z.lte(3840)), 1280),
            height: z._default(z.number().check(z.int(), z.gte(64), z.lte(2160)), 720),
            fps: z._default(z.number().check(z.int(), z.gte(1), z.lte(60)), 15),
          }),
          {},
        ),
        rtsp: z.optional(
          z.strictObject({
            url: rtspUrl,
            // A low-resolution second stream of the same camera, read for motion detection only.
            subUrl: z.optional(rtspUrl),
            transport: z._default(z.enum(['tcp', 'udp']), 'tcp'),
          }),
        ),
        onvif: z.optional(
          z
            .strictObject({
              xaddr: z.optional(
                z.string().check(z.regex(/^https?:\/\/\S+$/, 'expected the device service URL, e.g. http://192.168.1.30/onvif/device_service')),
              ),
              address: z.optional(z.string().check(z.regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected HOST or HOST:PORT'))),
              username: z._default(z.string(), ''),
              password: z._default(z.string(), ''),
              // A profile's token or name; the main profile defaults to the largest, the sub profile to none.
              mainProfile: z.optional(z.string().check(z.minLength(1))),
              subProfile: z.optional(z.string().check(z.minLength(1))),
            })
            .check(
              z.refine((o) => (o.xaddr === undefined) !== (o.address === undefined), {
                message: 'expected exactly one of xaddr and address',
              }),
            ),
        ),
        v4l2: z.prefault(
          z.strictObject({
            device: z._default(z.string().check(z.minLength(1)), '/dev/video0'),
            width: z._default(z.number().check(z.int(), z.gte(64), z.lte(3840)), 1280),
            height: z._default(z.number().check(z.int(), z.gte(64), z.lte(2160)), 720),
            fps: z._default(z.number().check(z.int(), z.gte(1), z.lte(60)), 15),
            // Default: H.264 when the camera offers it (copied), else MJPEG, else YUYV (encoded once).
            inputFormat: z.optional(z.enum(['h264', 'mjpeg', 'yuyv422'])),
          }),
          {},
        ),
        libcamera: z.prefault(
          z.strictObject({
            width: z._default(z.number().check(z.int(), z.gte(64), z.lte(4608)), 1280),
            height: z._default(z.number().check(z.int(), z.gte(64), z.lte(2592)), 720),
            fps: z._default(z.number().check(z.int(), z.gte(1), z.lte(60)), 15),
            extraArgs: z._default(z.array(z.string()), []),
          }),
          {},
        ),
        motion: z.prefault(
          z.strictObject({
            enabled: z._default(z.boolean(), false),
            width: z._default(z.number().check(z.int(), z.gte(32), z.lte(640)), 160),
            height: z._default(z.number().check(z.int(), z.gte(24), z.lte(480)), 90),
            fps: z._default(z.number().check(z.int(), z.gte(1), z.lte(15)), 5),
            pixelThreshold: z._default(z.number().check(z.int(), z.gte(1), z.lte(255)), 25),
            minAreaPercent: z._default(z.number().check(z.gte(0.05), z.lte(60)), 1),
            consecutiveFrames: z._default(z.number().check(z.int(), z.gte(1), z.lte(30)), 3),
            backgroundAlpha: z._default(z.number().check(z.gte(0.001), z.lte(0.5)), 0.05),
            zones: z._default(z.array(motionZone).check(z.maxLength(16)), []),
            // Motion makes a new owner event only after this long without motion, or when it opens a new
            // clip; motion in between, and motion that goes on, only extends the clip.
            rearmSeconds: z._default(z.number().check(z.gte(0), z.lte(600)), 10),
          }),
          {},
        ),
      })
      .check(
        z.superRefine((camera, ctx) => {
          if (camera.source === 'rtsp' && !camera.rtsp) {
            ctx.addIssue({ code: 'custom', path: ['rtsp', 'url'], message: 'expected camera.rtsp.url when camera.source is rtsp' });
          }
          if (camera.source === 'onvif' && !camera.onvif) {
            ctx.addIssue({ code: 'custom', path: ['onvif'], message: 'expected camera.onvif.xaddr or .address when camera.source is onvif' });
          }
        }),
      ),
    {},
  ),
  record: z.prefault(
    z
      .strictObject({
        preRollSeconds: z._default(z.number().check(z.gte(0), z.lte(60)), 5),
        postRollSeconds: z._default(z.number().check(z.gte(1), z.lte(600)), 10),
        maxClipSeconds: z._default(z.number().check(z.gte(5), z.lte(3600)), 120),
        segmentSeconds: z._default(z.number().check(z.int(), z.gte(1), z.lte(2)), 1),
      })
      .check(
        z.refine((r) => r.preRollSeconds + r.postRollSeconds <= r.maxClipSeconds, {
          message: 'expected preRollSeconds + postRollSeconds to be at most maxClipSeconds',
          path: ['maxClipSeconds'],
        }),
      ),
    {},
  ),
  storage: z.prefault(
    z.strictObject({
      dir: z.optional(z.string().check(z.minLength(1))),
      maxBytes: z._default(bytes, 2 * 1024 ** 3),
      maxAgeDays: z._default(z.number().check(z.gte(0.01), z.lte(3650)), 30),
    }),
    {},
  ),
  mqtt: z.prefault(
    z.strictObject({
      url: z.optional(z.string().check(z.regex(/^(mqtts?|wss?|tcp|tls):\/\//, 'expected an mqtt://, mqtts://, ws:// or wss:// URL'))),
      username: z.optional(z.string()),
      password: z.optional(z.string()),
      prefix: z._default(z.string().check(z.regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected topic levels without wildcards')), 'doorbell'),
      keepaliveSeconds: z._default(z.number().check(z.int(), z.gte(5), z.lte(600)), 30),
      embedded: z.prefault(
        z.strictObject({
          host: z._default(z.string(), '127.0.0.1'),
          port: z._default(z.number().check(z.int(), z.gte(1), z.lte(65535)), 1884),
          wsPort: z._default(z.number().check(z.int(), z.gte(1), z.lte(65535)), 8884),
        }),
        {},
      ),
    }),
    {},
  ),
  homeassistant: z.prefault(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      discoveryPrefix: z._default(
        z.string().check(z.regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected topic levels without wildcards')),
        'homeassistant',
      ),
      motionOffDelaySeconds: z._default(z.number().check(z.int(), z.gte(1), z.lte(3600)), 30),
      /** Ring and motion in plaintext on P/D/event for Home Assistant: readable by anyone on the broker. */
      plaintextEvents: z._default(z.boolean(), true),
      /** The latest snapshot as a plaintext JPEG on P/D/snapshot: readable by anyone on the broker. */
      plaintextSnapshot: z._default(z.boolean(), false),
    }),
    {},
  ),
  push: z.prefault(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      // What a phone is told, per kind; each owner's app can narrow it further, never widen it.
      ring: z._default(z.boolean(), true),
      motion: z._default(z.boolean(), false),
      request: z._default(z.boolean(), true),
      upload: z._default(z.boolean(), true),
      // A request's notification names the requester and reason only if this and the owner's app allow it.
      requesterDetails: z._default(z.boolean(), false),
      contact: z._default(
        z.string().check(z.regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'expected a mailto: or https: contact for push services')),
        'mailto:doorbell@example.invalid',
      ),
      timeoutSeconds: z._default(z.number().check(z.gte(1), z.lte(120)), 10),
    }),
    {},
  ),
  gpio: z.prefault(
    z.strictObject({
      backend: z._default(z.enum(['simulated', 'auto', 'onoff', 'gpiod']), 'simulated'),
      button: z.prefault(z.nullable(button), {}),
      pir: z.prefault(z.nullable(pir), {}),
      chime: z.optional(z.extend(output, { pulseMs: z._default(z.number().check(z.int(), z.gte(10), z.lte(5000)), 300) })),
      led: z.optional(output),
    }),
    {},
  ),
  requests: z.prefault(
    z.strictObject({
      maxWindowHours: z._default(z.number().check(z.positive(), z.lte(24 * 31)), 24),
      maxPendingPerRequester: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 3),
      maxPending: z._default(z.number().check(z.int(), z.gte(1), z.lte(10_000)), 20),
      // Keys nobody vouches for cost nothing to make: together they get this share of maxPending.
      maxPendingUnknown: z._default(z.number().check(z.int(), z.gte(0), z.lte(10_000)), 5),
      // Holds keep clips from eviction: bounded in time, and in space so a flood of requests cannot
      // pin the whole store (a request that would pass the share is refused at intake).
      maxHoldDays: z._default(z.number().check(z.positive(), z.lte(365)), 30),
      maxHeldShare: z._default(z.number().check(z.positive()), 0.5),
      // For tests and LAN setups only: uploads over plain http, and to private/loopback addresses.
      allowInsecureUploads: z._default(z.boolean(), false),
      allowPrivateDestinations: z._default(z.boolean(), false),
      upload: z.prefault(
        z.strictObject({
          maxAttempts: z._default(z.number().check(z.int(), z.gte(1), z.lte(100)), 8),
          timeoutSeconds: z._default(z.number().check(z.gte(5), z.lte(24 * 3600)), 1800),
          stallSeconds: z._default(z.number().check(z.gte(1), z.lte(3600)), 60),
          concurrency: z._default(z.number().check(z.int(), z.gte(1), z.lte(16)), 3),
          maxBytes: z._default(bytes, 2 * 1024 ** 3),
        }),
        {},
      ),
    }),
    {},
  ),
  policy: z.prefault(
    z.strictObject({
      deny: z.prefault(
        z.strictObject({
          all: z._default(z.boolean(), false),
          kinds: z._default(z.array(z.enum(['police', 'fire', 'neighbor', 'insurer', 'owner', 'other'])), []),
          withoutCaseNumber: z._default(z.boolean(), false),
        }),
        {},
      ),
      requesters: z.prefault(
        z.strictObject({
          // deny: only pinned keys and keys a trusted directory vouches for may ask at all.
          unknown: z._default(z.enum(['allow', 'deny']), 'allow'),
          pinned: z._default(
            z.array(z.strictObject({ key: requesterKey, label: z.string().check(z.minLength(1), z.maxLength(120)) })).check(z.maxLength(1000)),
            [],
          ),
          directories: z._default(
            z.array(z.strictObject({ key: requesterKey, label: z.string().check(z.minLength(1), z.maxLength(120)) })).check(z.maxLength(100)),
            [],
          ),
        }),
        {},
      ),
      // 'area': area requests must come through the request board, with its proof; true: direct ones too.
      requirePublicRequests: z._default(z.union([z.boolean(), z.literal('area')]), 'area'),
      board: z.optional(
        z.strictObject({
          // The board's C2SP verifier key, as `doorbell board key` prints it (name+hash+base64).
          publicKey: z.string().check(z.regex(/^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/, 'expected a verifier key name+hash+base64')),
          url: z.string().check(z.regex(/^https?:\/\/\S+$/, 'expected the board URL, e.g. https://board.example')),
          pollSeconds: z._default(z.number().check(z.gte(1), z.lte(3600)), 60),
        }),
      ),
    }),
    {},
  ),
  web: z.prefault(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      listen: z._default(
        z.string().check(z.regex(/^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:8080 or 192.168.1.20:8080')),
        '127.0.0.1:8080',
      ),
      // The broker's WebSocket URL as the phone reaches it; the embedded broker's when none is configured.
      brokerWsUrl: z.optional(z.string().check(z.regex(/^wss?:\/\//, 'expected a ws:// or wss:// URL'))),
      // PEM files for HTTPS: phones give WebCrypto and service workers only to secure pages.
      tls: z.optional(z.strictObject({ cert: z.string().check(z.minLength(1)), key: z.string().check(z.minLength(1)) })),
      // Where else the app is served (a reverse proxy): pages from these may use the embedded broker too.
      origins: z._default(
        z
          .array(z.string().check(z.regex(/^https?:\/\/[^/?#\s]+$/, 'expected an origin: scheme and host, e.g. https://doorbell.example')))
          .check(z.maxLength(32)),
        [],
      ),
    }),
    {},
  ),
  audit: z.prefault(
    z.strictObject({
      // The signed checkpoint goes out on a fixed schedule, never per entry: its timing tells nothing.
      checkpointMinutes: z._default(z.number().check(z.int(), z.gte(1), z.lte(24 * 60)), 60),
    }),
    {},
  ),
  log: z.prefault(
    z.strictObject({
      level: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),
      format: z._default(z.enum(['auto', 'json', 'pretty']), 'auto'),
    }),
    {},
  ),
});

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;
export type Config = Parsed & {
  runtime: { dir: string };
  storage: Parsed['storage'] & { dir: string };
};

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function describe(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (issue.path.length ? `${path}.${k}` : k));
    return keys.map((k) => `${k}: unknown key`).join('\n  ');
  }
  return `${path}: ${issue.message}`;
}

/**
 * Where the pre-roll segments and control socket live: RAM, never the SD card. Outside systemd it is
 * named after the storage folder, so two agents with their own storage never share one.
 */
export function defaultRuntimeDir(storageDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUNTIME_DIRECTORY) return env.RUNTIME_DIRECTORY.split(':')[0]!;
  const tag = createHash('sha256').update(storageDir).digest('hex').slice(0, 12);
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, `doorbell-${tag}`);
  const uid = process.getuid?.() ?? 0;
  return process.platform === 'linux' ? `/dev/shm/doorbell-${uid}-${tag}` : join(tmpdir(), `doorbell-${uid}-${tag}`);
}

export function defaultStorageDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0]!;
  return resolve('.doorbell');
}

/** Checks an already-parsed object (from YAML, or built in code) and fills the defaults. */
export function parseConfig(input: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describe));
  const cfg = result.data;
  const expand = (p: string): string => resolve(p.replace(/^~(?=\/|$)/, homedir()));
  const storageDir = expand(cfg.storage.dir ?? defaultStorageDir(env));
  return {
    ...cfg,
    runtime: { dir: expand(cfg.runtime.dir ?? defaultRuntimeDir(storageDir, env)) },
    storage: { ...cfg.storage, dir: storageDir },
  };
}

export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `${e.linePos?.[0] ? `line ${e.linePos[0].line}: ` : ''}${e.message.split('\n')[0]}`),
    );
  }
  return parseConfig(doc.toJS() ?? {}, source, env);
}

/** The file named by --config, else $DOORBELL_CONFIG, else none (all defaults). */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env.DOORBELL_CONFIG || undefined);
}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (!file) return parseConfig({}, 'defaults', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfigText(text, file, env);
}

/** Every leaf key path of the schema (e.g. `record.preRollSeconds`): the README and template are checked against it. */
export function configKeys(): string[] {
  const keys: string[] = [];
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    let t = s;
    for (;;) {
      const def = t._zod.def as { innerType?: z.core.$ZodType; type: string; in?: z.core.$ZodType };
      if (def.innerType) t = def.innerType;
      else if (def.type === 'pipe' && def.in) t = def.in;
      else return t;
    }
  };
  const walk = (schema: z.core.$ZodType, prefix: string): void => {
    const s = unwrap(schema);
    const def = s._zod.def as { type: string; shape?: Record<string, z.core.$ZodType> };
    if (def.type === 'object' && def.shape) {
      for (const [k, v] of Object.entries(def.shape)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else keys.push(prefix);
  };
  walk(configSchema, '');
  return keys;
}
