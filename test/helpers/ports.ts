/** The benchmark and chaos harness's loopback helpers, shared with the tests. */
export { freePort } from '../../scripts/bench/harness/ports.js';
