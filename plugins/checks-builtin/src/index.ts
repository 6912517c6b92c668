import type { CheckPlugin } from '@ferry/core';
import { type BigKeysOptions, checkBigKeys } from './checks/big-keys.js';
import { checkClusterCompat } from './checks/cluster-compat.js';
import { checkClusterCoverage } from './checks/cluster-coverage.js';
import { checkConnectivity } from './checks/connectivity.js';
import { checkDatabases } from './checks/databases.js';
import { checkEvictionPolicy } from './checks/eviction-policy.js';
import { checkImportMode } from './checks/import-mode.js';
import { checkModulesFunctions } from './checks/modules-functions.js';
import { checkReplicationBuffers } from './checks/replication-buffers.js';
import { checkSourceHealth } from './checks/source-health.js';
import { checkSourceKeys } from './checks/source-keys.js';
import { checkSpoolDisk } from './checks/spool-disk.js';
import { checkSyncPermission } from './checks/sync-permission.js';
import { checkTargetEmpty } from './checks/target-empty.js';
import { checkTargetMemory } from './checks/target-memory.js';
import { checkVersion } from './checks/version.js';

export { type BigKeysOptions, checkBigKeys } from './checks/big-keys.js';
export { checkClusterCompat } from './checks/cluster-compat.js';
export { checkClusterCoverage } from './checks/cluster-coverage.js';
export { checkConnectivity } from './checks/connectivity.js';
export { checkDatabases } from './checks/databases.js';
export { checkEvictionPolicy } from './checks/eviction-policy.js';
export { checkImportMode } from './checks/import-mode.js';
export { checkModulesFunctions } from './checks/modules-functions.js';
export { checkReplicationBuffers, replicaLimit } from './checks/replication-buffers.js';
export { checkSourceHealth } from './checks/source-health.js';
export { checkSourceKeys } from './checks/source-keys.js';
export { checkSpoolDisk } from './checks/spool-disk.js';
export { checkSyncPermission } from './checks/sync-permission.js';
export { checkTargetEmpty } from './checks/target-empty.js';
export { checkTargetMemory } from './checks/target-memory.js';
export { checkVersion, judgeVersions, NEWEST_SOURCE } from './checks/version.js';
export { defineCheck } from './util.js';

export interface BuiltinChecksOptions {
  bigKeys?: BigKeysOptions;
}

/** Every built-in check, in the order a report lists them. */
export function builtinChecks(options: BuiltinChecksOptions = {}): CheckPlugin[] {
  return [
    checkConnectivity(),
    checkSyncPermission(),
    checkSourceHealth(),
    checkVersion(),
    checkTargetEmpty(),
    checkSourceKeys(),
    checkTargetMemory(),
    checkDatabases(),
    checkEvictionPolicy(),
    checkImportMode(),
    checkReplicationBuffers(),
    checkClusterCoverage(),
    checkClusterCompat(),
    checkModulesFunctions(),
    checkBigKeys(options.bigKeys),
    checkSpoolDisk(),
  ];
}
