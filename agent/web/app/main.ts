/** Entry point: start the app, draw the shell, and (on a secure page) register the service worker that makes it installable. */
import { useSoftwareX25519WhereNeeded } from './age-fallback.js';
import { App } from './app.js';
import { h, replaceChildren } from './views/dom.js';
import { Shell } from './views/shell.js';

async function main(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) throw new Error('index.html has no #app element');
  useSoftwareX25519WhereNeeded();
  const app = new App();
  try {
    await app.start();
  } catch (err) {
    replaceChildren(root, h('main', { class: 'screen' }, h('p', { class: 'callout callout--error', role: 'alert' }, (err as Error).message)));
    throw err;
  }
  new Shell(app).mount(root);
  // Browsers offer service workers only to secure pages; over plain http the app simply is not installable.
  if (window.isSecureContext && 'serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js').catch((err: Error) => console.warn('offline shell unavailable', err.message));
  }
}

void main();
