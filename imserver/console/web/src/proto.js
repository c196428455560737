// proto.js: the wire schema (improto's .proto files, compiled to protobufjs
// reflection JSON by build.mjs) and how a call of each command is made.
import protobuf from 'protobufjs/light';
import { pushBodies, routes } from './commands.js';
import schema from './schema.json';

// int64 fields decode as JS numbers: imbot's ids and cursors stay far
// below 2^53.
protobuf.util.Long = null;
protobuf.configure();

const root = protobuf.Root.fromJSON(schema);

export const Frame = root.lookupType('im_proto.Frame');
export const Request = root.lookupType('im_proto.Request');
export const Response = root.lookupType('im_proto.Response');
const RequestBody = root.lookupType('im_proto.RequestBody');
const ResponseBody = root.lookupType('im_proto.ResponseBody');
const IMCMD = root.lookupEnum('im_proto.IMCMD').values;
export const StatusCode = root.lookupEnum('im_proto.StatusCode').values;

// push numbers the pushes the console acts on.
export const push = Object.fromEntries(Object.keys(pushBodies).map((name) => [name, IMCMD[name]]));

// command returns what a call of the named IMCMD needs: its number, route,
// and the names of the RequestBody and ResponseBody fields that carry its
// bodies (the field number is the command's, improto/README.md).
export function command(name) {
  const cmd = IMCMD[name];
  const route = routes[name];
  if (cmd === undefined || route === undefined) throw new Error(`command ${name} is not in the console's table`);
  const req = RequestBody.fieldsById[cmd];
  const resp = ResponseBody.fieldsById[cmd];
  return { cmd, route, reqField: req && req.name, respField: resp && resp.name };
}

// The enums the console speaks, by name.
export const enums = {
  ConversationType: root.lookupEnum('im_proto.ConversationType').values,
  MessageType: root.lookupEnum('im_proto.MessageType').values,
  MessageDirection: root.lookupEnum('im_proto.MessageDirection').values,
  OperationType: root.lookupEnum('im_proto.OPERATION_TYPE').values,
  FriendMessageType: root.lookupEnum('im_proto.FriendMessageType').values,
};
