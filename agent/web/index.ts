/** The owner's phone app: its web server (the app itself is built from `app/` into `dist/web`). */
export { WebServer, webAssetsDir, type AppConfig, type WebServerDeps } from './server.js';
