export {
  type ConnectOptions,
  connect,
  RespConnection,
  type SendOptions,
  type WireCommand,
} from './connection.js';
export { type DecoderLimits, decodeAll, RespDecoder, type ValueSink } from './decoder.js';
export { encodeCommand, encodeCommands } from './encoder.js';
export { RedirectError, ReplyError, type ReplyErrorKind, replyError } from './errors.js';
export * from './types.js';
