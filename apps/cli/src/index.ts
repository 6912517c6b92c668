export { COMMANDS, type CommandInfo } from './commands.js';
export { main, usage } from './run.js';
