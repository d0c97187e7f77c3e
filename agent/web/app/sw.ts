/**
 * The service worker: keeps the app shell so it opens (and installs) without the network, and shows
 * the doorbell's push notifications (protocol.md "Push notifications") while the app is closed.
 * Network first, so a new agent's app replaces the cached one at once; live data never goes through here.
 */

interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}

interface PushEvent extends ExtendableEvent {
  readonly data: { text(): string } | null;
}

interface NotificationEvent extends ExtendableEvent {
  readonly notification: Notification;
}

interface WindowClient {
  readonly url: string;
  focus(): Promise<WindowClient>;
  navigate(url: string): Promise<WindowClient | null>;
}

interface WorkerScope {
  addEventListener(type: 'install' | 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
  addEventListener(type: 'push', listener: (event: PushEvent) => void): void;
  addEventListener(type: 'notificationclick', listener: (event: NotificationEvent) => void): void;
  skipWaiting(): Promise<void>;
  readonly registration: { showNotification(title: string, options: NotificationOptions): Promise<void> };
  readonly clients: {
    claim(): Promise<void>;
    matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
  };
}

declare const BUILD_ID: string;

const worker = self as unknown as WorkerScope;
const CACHE = `doorbell-shell-${BUILD_ID}`;
const SHELL = ['/', '/app.js', '/style.css', '/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png'];

worker.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => worker.skipWaiting()),
  );
});

worker.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('doorbell-shell-') && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => worker.clients.claim()),
  );
});

worker.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== location.origin) return;
  event.respondWith(networkFirst(event.request));
});

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw err;
  }
}

/** A view of this app, and nothing else: a push can never send the phone to another site. */
const APP_VIEW = /^\/#\/[A-Za-z0-9._~%/-]{0,200}$/;
const KINDS: Record<string, string> = { ring: 'Someone is at the door', motion: 'Motion at the door', request: 'Footage requested', upload: 'Upload' };

/** What the doorbell sent, checked: a malformed push still tells the owner something, never anything odd. */
function notificationFrom(text: string | undefined): { title: string; options: NotificationOptions } {
  let p: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text ?? '');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) p = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: shown as a plain notice from the doorbell.
  }
  const kind = typeof p.kind === 'string' && p.kind in KINDS ? p.kind : undefined;
  const title = typeof p.title === 'string' && p.title ? p.title.slice(0, 120) : kind ? KINDS[kind]! : 'Doorbell';
  const url = typeof p.url === 'string' && APP_VIEW.test(p.url) ? p.url : '/#/inbox';
  return {
    title,
    options: {
      body: typeof p.body === 'string' ? p.body.slice(0, 300) : '',
      tag: typeof p.tag === 'string' ? p.tag.slice(0, 80) : (kind ?? 'doorbell'),
      icon: '/icon-192.png',
      data: { url, kind: kind ?? null, at: typeof p.at === 'string' ? p.at : null },
    },
  };
}

worker.addEventListener('push', (event) => {
  const { title, options } = notificationFrom(event.data?.text());
  event.waitUntil(worker.registration.showNotification(title, options));
});

worker.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data as { url?: unknown } | null;
  const target = new URL(typeof data?.url === 'string' && APP_VIEW.test(data.url) ? data.url : '/#/inbox', location.origin).href;
  event.waitUntil(
    worker.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (open) => {
      // An open app goes to the view; otherwise a new window opens on it.
      const client = open.find((c) => new URL(c.url).origin === location.origin);
      if (client) {
        const moved = await client.navigate(target);
        await (moved ?? client).focus();
      } else {
        await worker.clients.openWindow(target);
      }
    }),
  );
});

export {};
