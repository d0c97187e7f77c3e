/** The owner's phone app: its web server (the app itself is built from `app/` into `dist/web`). */
export { WebServer, webAssetsDir, type AppConfig, type WebServerDeps } from './server.js';
export { MediaSource, type MediaOwner, type MediaSourceDeps } from './media.js';
export { makeMediaToken, MEDIA_AUTH_SCHEME, mediaTokenBytes, parseMediaToken, type MediaResource } from './media-token.js';
