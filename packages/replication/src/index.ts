export {
  ANNOUNCED_VERSION,
  type LinkState,
  ReplicaLink,
  type ReplicaLinkOptions,
  type StreamCommand,
  type SyncStart,
} from './link.js';
export { CommandScanner, type CommandSink, type ScannerOptions } from './scanner.js';
export { freeBytes, SpoolFile, spoolDiskUsage } from './spool.js';
