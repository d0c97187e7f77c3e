/** A private Mosquitto on a free loopback port (the benchmark and chaos harness's, shared with the tests). */
export { PrivateMosquitto as TestMosquitto } from '../../scripts/bench/harness/mosquitto.js';
export { waitForPort } from '../../scripts/bench/harness/ports.js';
