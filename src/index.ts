/**
 * shiptrack as a library: `import { openShiptrack } from 'shiptrack'`. One opened handle gives
 * every use case the CLI has, with the same behaviour (see README, "Use it as a library").
 */

export { openShiptrack, createShiptrack } from './shiptrack.js';
export type { Shiptrack, ShiptrackOptions, MigrationsApi, OutboxApi, SeedsApi, Signalled } from './shiptrack.js';

export { loadConfig, describeConfig } from './config.js';
export type { Config, SettingName } from './config.js';

export {
  ShiptrackError,
  UsageError,
  ConfigError,
  NotFoundError,
  ConflictError,
  UnavailableError,
  InterruptedError,
  SchemaMissingError,
  MigrationError,
  ExitCode,
  isShiptrackError,
} from './errors.js';

export { packageStatuses, isTransitionAllowed } from './domain/status.js';
export type { PackageStatus } from './domain/status.js';
export { parseTrackingNumber, isValidTrackingNumber } from './domain/tracking-number.js';
export { scanLimits } from './domain/scan-input.js';
export type { ScanRecord } from './domain/scan-input.js';
export type { TrackedPackage, TimelineEvent } from './domain/timeline.js';

export { trackCachePolicy } from './services/track.service.js';
export type { TrackAnswer, TrackResult, TrackOptions, WatchOptions } from './services/track.service.js';
export type { ScanOutcome } from './services/scan-write.js';
export type { RecordedOutcome, RecordedScans, ScanStreamOptions, ScanStreamSummary } from './services/scan.service.js';
export type { SeedRequest, SeedReport, SeedProgress, SeedTable } from './services/seed.service.js';
export { SeedFileError } from './services/seed-files.service.js';
export type {
  SeedServices,
  SeedModule,
  SeedCustomer,
  SeedLocation,
  SeedPackage,
  SeedScan,
  SeedRunReport,
  SeedFileRun,
  SeedChanges,
  SeedListing,
  SeedFileState,
} from './services/seed-files.service.js';
export type { CheckReport, CheckResult, RollupRepair } from './services/check.service.js';
export type { ReportResult, ReportTable, Finding } from './services/reports/report.js';
export { reportNames } from './services/reports/registry.js';
export type { ReportRequest } from './services/reports/registry.js';
export type {
  MigrateRequest,
  MigrationReport,
  MigrationRunResult,
  LatestResult,
  DryRunResult,
} from './services/migrations.service.js';
export type { DrainResult } from './services/outbox.service.js';
export type { DoctorReport, StoreCheck } from './services/doctor.service.js';
export type { BenchmarkRequest, BenchmarkOutcome } from './services/benchmark/benchmark.service.js';
export type { ServiceWarning } from './services/warnings.js';
