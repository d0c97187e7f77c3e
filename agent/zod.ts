/**
 * zod for every schema of the agent: its tree-shakable build (`zod/mini`: checks and wrappers are
 * functions, not methods), with English messages. Import it as a namespace (`import * as z`) so
 * the bundle keeps only the parts in use.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
