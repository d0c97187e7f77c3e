/** systemd integration: readiness and status (sd_notify) and a watchdog fed only while healthy. */
export { SYSTEMD_NOTIFY, SystemdNotifier, type NotifyResult, type NotifySpawn, type SystemdNotifierDeps } from './notifier.js';
export { Watchdog, type HealthCheck, type WatchdogDeps, type WatchdogNotifier } from './watchdog.js';
export { databaseWritable, segmentFreshness, type SegmentFreshnessOptions } from './health.js';
