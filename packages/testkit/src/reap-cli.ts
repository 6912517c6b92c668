#!/usr/bin/env node
import { reapOrphans } from './processes.js';

const reaped = reapOrphans();
console.log(
  reaped.length ? `reaped ${reaped.length} orphaned server(s): ${reaped.join(', ')}` : 'nothing to reap',
);
