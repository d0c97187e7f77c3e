import { createHash } from 'node:crypto';
/**
 * The one configuration file: YAML checked by a strict zod schema. Unknown keys are errors and every
 * error is reported at once with its path, so a typo never silently becomes a default.
 */
import { readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ID_PATTERN } from './ids.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** A byte count: an integer, or a string such as "2GiB" or "500 MB". */
const bytes = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(value);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a byte size such as 2147483648, "2GiB" or "500MB"' });
    return z.NEVER;
  }
  return Math.floor(Number(m[1]) * unit);
});

const id = z.string().regex(ID_PATTERN, 'expected an identifier: letters, digits, ".", "_" or "-", at most 64 characters');
const pin = z.number().int().min(0).max(63);
const requesterKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected a requester public key: 43 characters of base64url');

const button = z.strictObject({
  pin: pin.default(17),
  activeLow: z.boolean().default(true),
  debounceMs: z.number().int().min(0).max(500).default(30),
  longPressSeconds: z.number().min(1).max(30).default(5),
});
const pir = z.strictObject({
  pin: pin.default(27),
  activeLow: z.boolean().default(false),
  rearmSeconds: z.number().min(0).max(600).default(10),
});
const output = z.strictObject({ pin, activeLow: z.boolean().default(false) });
const rtspUrl = z.string().regex(/^rtsps?:\/\/\S+$/, 'expected an rtsp:// or rtsps:// URL');
const fraction = z.number().min(0).max(1);
const motionZone = z.strictObject({
  kind: z.enum(['include', 'exclude']),
  // Corners as fractions of the frame, [0, 0] top left: the zone survives a change of resolution.
  points: z.array(z.tuple([fraction, fraction])).min(3).max(64),
});

export const configSchema = z.strictObject({
  device: z
    .strictObject({
      id: id.default('frontdoor'),
      name: z.string().min(1).max(80).default('Front door'),
      location: z
        .strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })
        .optional(),
    })
    .prefault({}),
  runtime: z.strictObject({ dir: z.string().min(1).optional() }).prefault({}),
  ffmpeg: z.strictObject({ path: z.string().min(1).optional() }).prefault({}),
  camera: z
    .strictObject({
      source: z.enum(['synthetic', 'rtsp', 'onvif', 'v4l2', 'libcamera']).default('synthetic'),
      stallSeconds: z.number().min(2).max(120).default(10),
      connectTimeoutSeconds: z.number().min(1).max(60).default(10),
      synthetic: z
        .strictObject({
          width: z.number().int().min(64).max(3840).default(1280),
          height: z.number().int().min(64).max(2160).default(720),
          fps: z.number().int().min(1).max(60).default(15),
        })
        .prefault({}),
      rtsp: z
        .strictObject({
          url: rtspUrl,
          // A low-resolution second stream of the same camera, read for motion detection only.
          subUrl: rtspUrl.optional(),
          transport: z.enum(['tcp', 'udp']).default('tcp'),
        })
        .optional(),
      onvif: z
        .strictObject({
          xaddr: z.string().regex(/^https?:\/\/\S+$/, 'expected the device service URL, e.g. http://192.168.1.30/onvif/device_service').optional(),
          address: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected HOST or HOST:PORT').optional(),
          username: z.string().default(''),
          password: z.string().default(''),
          // A profile's token or name; the main profile defaults to the largest, the sub profile to none.
          mainProfile: z.string().min(1).optional(),
          subProfile: z.string().min(1).optional(),
        })
        .refine((o) => (o.xaddr === undefined) !== (o.address === undefined), {
          message: 'expected exactly one of xaddr and address',
        })
        .optional(),
      v4l2: z
        .strictObject({
          device: z.string().min(1).default('/dev/video0'),
          width: z.number().int().min(64).max(3840).default(1280),
          height: z.number().int().min(64).max(2160).default(720),
          fps: z.number().int().min(1).max(60).default(15),
          // Default: H.264 when the camera offers it (copied), else MJPEG, else YUYV (encoded once).
          inputFormat: z.enum(['h264', 'mjpeg', 'yuyv422']).optional(),
        })
        .prefault({}),
      libcamera: z
        .strictObject({
          width: z.number().int().min(64).max(4608).default(1280),
          height: z.number().int().min(64).max(2592).default(720),
          fps: z.number().int().min(1).max(60).default(15),
          extraArgs: z.array(z.string()).default([]),
        })
        .prefault({}),
      motion: z
        .strictObject({
          enabled: z.boolean().default(false),
          width: z.number().int().min(32).max(640).default(160),
          height: z.number().int().min(24).max(480).default(90),
          fps: z.number().int().min(1).max(15).default(5),
          pixelThreshold: z.number().int().min(1).max(255).default(25),
          minAreaPercent: z.number().min(0.05).max(60).default(1),
          consecutiveFrames: z.number().int().min(1).max(30).default(3),
          backgroundAlpha: z.number().min(0.001).max(0.5).default(0.05),
          zones: z.array(motionZone).max(16).default([]),
          // Motion makes a new owner event only after this long without motion, or when it opens a new
          // clip; motion in between, and motion that goes on, only extends the clip.
          rearmSeconds: z.number().min(0).max(600).default(10),
        })
        .prefault({}),
    })
    .superRefine((camera, ctx) => {
      if (camera.source === 'rtsp' && !camera.rtsp) {
        ctx.addIssue({ code: 'custom', path: ['rtsp', 'url'], message: 'expected camera.rtsp.url when camera.source is rtsp' });
      }
      if (camera.source === 'onvif' && !camera.onvif) {
        ctx.addIssue({ code: 'custom', path: ['onvif'], message: 'expected camera.onvif.xaddr or .address when camera.source is onvif' });
      }
    })
    .prefault({}),
  record: z
    .strictObject({
      preRollSeconds: z.number().min(0).max(60).default(5),
      postRollSeconds: z.number().min(1).max(600).default(10),
      maxClipSeconds: z.number().min(5).max(3600).default(120),
      segmentSeconds: z.number().int().min(1).max(2).default(1),
    })
    .refine((r) => r.preRollSeconds + r.postRollSeconds <= r.maxClipSeconds, {
      message: 'expected preRollSeconds + postRollSeconds to be at most maxClipSeconds',
      path: ['maxClipSeconds'],
    })
    .prefault({}),
  storage: z
    .strictObject({
      dir: z.string().min(1).optional(),
      maxBytes: bytes.default(2 * 1024 ** 3),
      maxAgeDays: z.number().min(0.01).max(3650).default(30),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      url: z
        .string()
        .regex(/^(mqtts?|wss?|tcp|tls):\/\//, 'expected an mqtt://, mqtts://, ws:// or wss:// URL')
        .optional(),
      username: z.string().optional(),
      password: z.string().optional(),
      prefix: z
        .string()
        .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected topic levels without wildcards')
        .default('doorbell'),
      keepaliveSeconds: z.number().int().min(5).max(600).default(30),
      embedded: z
        .strictObject({
          host: z.string().default('127.0.0.1'),
          port: z.number().int().min(1).max(65535).default(1884),
          wsPort: z.number().int().min(1).max(65535).default(8884),
        })
        .prefault({}),
    })
    .prefault({}),
  homeassistant: z
    .strictObject({
      enabled: z.boolean().default(true),
      discoveryPrefix: z
        .string()
        .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected topic levels without wildcards')
        .default('homeassistant'),
      motionOffDelaySeconds: z.number().int().min(1).max(3600).default(30),
      /** Ring and motion in plaintext on P/D/event for Home Assistant: readable by anyone on the broker. */
      plaintextEvents: z.boolean().default(true),
      /** The latest snapshot as a plaintext JPEG on P/D/snapshot: readable by anyone on the broker. */
      plaintextSnapshot: z.boolean().default(false),
    })
    .prefault({}),
  push: z
    .strictObject({
      enabled: z.boolean().default(true),
      // What a phone is told, per kind; each owner's app can narrow it further, never widen it.
      ring: z.boolean().default(true),
      motion: z.boolean().default(false),
      request: z.boolean().default(true),
      upload: z.boolean().default(true),
      // A request's notification names the requester and reason only if this and the owner's app allow it.
      requesterDetails: z.boolean().default(false),
      contact: z
        .string()
        .regex(/^(mailto:\S+@\S+|https:\/\/\S+)$/, 'expected a mailto: or https: contact for push services')
        .default('mailto:doorbell@example.invalid'),
      timeoutSeconds: z.number().min(1).max(120).default(10),
    })
    .prefault({}),
  gpio: z
    .strictObject({
      backend: z.enum(['simulated', 'auto', 'onoff', 'gpiod']).default('simulated'),
      button: button.nullable().prefault({}),
      pir: pir.nullable().prefault({}),
      chime: output.extend({ pulseMs: z.number().int().min(10).max(5000).default(300) }).optional(),
      led: output.optional(),
    })
    .prefault({}),
  requests: z
    .strictObject({
      maxWindowHours: z.number().positive().max(24 * 31).default(24),
      maxPendingPerRequester: z.number().int().min(1).max(1000).default(3),
      maxPending: z.number().int().min(1).max(10_000).default(20),
      // Keys nobody vouches for cost nothing to make: together they get this share of maxPending.
      maxPendingUnknown: z.number().int().min(0).max(10_000).default(5),
      // Holds keep clips from eviction: bounded in time, and in space so a flood of requests cannot
      // pin the whole store (a request that would pass the share is refused at intake).
      maxHoldDays: z.number().positive().max(365).default(30),
      maxHeldShare: z.number().positive().default(0.5),
      // For tests and LAN setups only: uploads over plain http, and to private/loopback addresses.
      allowInsecureUploads: z.boolean().default(false),
      allowPrivateDestinations: z.boolean().default(false),
      upload: z
        .strictObject({
          maxAttempts: z.number().int().min(1).max(100).default(8),
          timeoutSeconds: z.number().min(5).max(24 * 3600).default(1800),
          stallSeconds: z.number().min(1).max(3600).default(60),
          concurrency: z.number().int().min(1).max(16).default(3),
          maxBytes: bytes.default(2 * 1024 ** 3),
        })
        .prefault({}),
    })
    .prefault({}),
  policy: z
    .strictObject({
      deny: z
        .strictObject({
          all: z.boolean().default(false),
          kinds: z.array(z.enum(['police', 'fire', 'neighbor', 'insurer', 'owner', 'other'])).default([]),
          withoutCaseNumber: z.boolean().default(false),
        })
        .prefault({}),
      requesters: z
        .strictObject({
          // deny: only pinned keys and keys a trusted directory vouches for may ask at all.
          unknown: z.enum(['allow', 'deny']).default('allow'),
          pinned: z.array(z.strictObject({ key: requesterKey, label: z.string().min(1).max(120) })).max(1000).default([]),
          directories: z.array(z.strictObject({ key: requesterKey, label: z.string().min(1).max(120) })).max(100).default([]),
        })
        .prefault({}),
      // 'area': area requests must come through the request board, with its proof; true: direct ones too.
      requirePublicRequests: z.union([z.boolean(), z.literal('area')]).default('area'),
      board: z
        .strictObject({
          // The board's C2SP verifier key, as `doorbell board key` prints it (name+hash+base64).
          publicKey: z.string().regex(/^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/, 'expected a verifier key name+hash+base64'),
          url: z.string().regex(/^https?:\/\/\S+$/, 'expected the board URL, e.g. https://board.example'),
          pollSeconds: z.number().min(1).max(3600).default(60),
        })
        .optional(),
    })
    .prefault({}),
  web: z
    .strictObject({
      enabled: z.boolean().default(true),
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:8080 or 192.168.1.20:8080')
        .default('127.0.0.1:8080'),
      // The broker's WebSocket URL as the phone reaches it; the embedded broker's when none is configured.
      brokerWsUrl: z.string().regex(/^wss?:\/\//, 'expected a ws:// or wss:// URL').optional(),
      // PEM files for HTTPS: phones give WebCrypto and service workers only to secure pages.
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
      // Where else the app is served (a reverse proxy): pages from these may use the embedded broker too.
      origins: z
        .array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'expected an origin: scheme and host, e.g. https://doorbell.example'))
        .max(32)
        .default([]),
    })
    .prefault({}),
  audit: z
    .strictObject({
      // The signed checkpoint goes out on a fixed schedule, never per entry: its timing tells nothing.
      checkpointMinutes: z.number().int().min(1).max(24 * 60).default(60),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
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
