export { PushClient, PushError, type Push, type PushClientEvents, type PushClientOptions } from './push-client';
export {
  DEFAULT_SOCKET_PATH,
  IPC_VERSION,
  MAX_DAEMON_FRAME_BYTES,
  MAX_IPC_FRAME_BYTES,
  SOCKET_ENV,
  IpcFrameError,
  IpcFrameReader,
  encodeIpcFrame,
  parseIpcBody,
  type IpcError,
  type IpcEvent,
  type IpcFromDaemon,
  type IpcOp,
  type IpcPush,
  type IpcReply,
  type IpcRequest,
} from './ipc';
