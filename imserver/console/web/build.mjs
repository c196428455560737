// build.mjs builds the console into ../static, which package console embeds:
//
//   src/schema.json   protobufjs reflection JSON of improto/im.proto and
//                     improto/frame.proto (field names as in the .proto),
//                     cut down to what the commands and pushes listed in
//                     src/commands.js reach
//   static/console.js src/main.js and what it imports, bundled and minified
//   static/console.css, static/index.html  copied from src/
//   static/proto.sha256, static/src.sha256  SHA-256 sums of the .proto files
//                     and of src/ (each file's name, a NUL, its bytes, in
//                     name order) that the bundle was built from; a Go test
//                     fails when they no longer match.
//
// Run it with: npm ci && npm run build
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import protobuf from 'protobufjs';
import { enumsUsed, pushBodies, routes } from './src/commands.js';

const here = dirname(fileURLToPath(import.meta.url));
const improto = join(here, '..', '..', '..', 'improto');
const out = join(here, '..', 'static');
// In this order, for the hash; console_test.go hashes alike.
const protos = ['frame.proto', 'im.proto'].map((f) => join(improto, f));

const root = new protobuf.Root();
root.loadSync(protos, { keepCase: true });
writeFileSync(join(here, 'src', 'schema.json'), JSON.stringify(prune(root.toJSON())) + '\n');

const hash = createHash('sha256');
for (const p of protos) hash.update(readFileSync(p));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'proto.sha256'), hash.digest('hex') + '\n');
const srcHash = createHash('sha256');
for (const f of readdirSync(join(here, 'src')).filter((f) => f !== 'schema.json').sort()) {
  srcHash.update(f + '\0').update(readFileSync(join(here, 'src', f)));
}
writeFileSync(join(out, 'src.sha256'), srcHash.digest('hex') + '\n');

await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2022',
  legalComments: 'none',
  outfile: join(out, 'console.js'),
  logLevel: 'warning',
});
for (const f of ['console.css', 'index.html']) copyFileSync(join(here, 'src', f), join(out, f));

// prune keeps, of the im_proto package, the envelope (Frame, Request,
// Response), the RequestBody and ResponseBody fields of the console's
// commands and pushes, every type these reach, and the enums it reads by
// name: well under half of the full schema.
function prune(json) {
  const types = json.nested.im_proto.nested;
  const cmds = new Set(Object.keys(routes).map((name) => types.IMCMD.values[name]));
  const keep = (msg, ids) => {
    msg.fields = Object.fromEntries(Object.entries(msg.fields).filter(([, f]) => ids.has(f.id)));
  };
  keep(types.RequestBody, cmds);
  keep(types.ResponseBody, new Set([...cmds, ...Object.values(pushBodies)]));
  const reached = new Set(enumsUsed);
  const visit = (name) => {
    name = name.replace(/^(\.?im_proto\.)/, '');
    if (reached.has(name)) return;
    const t = types[name];
    if (!t) return; // a scalar
    reached.add(name);
    for (const f of Object.values(t.fields || {})) visit(f.type);
  };
  for (const root of ['Frame', 'Request', 'Response', 'RequestBody', 'ResponseBody']) visit(root);
  json.nested.im_proto.nested = Object.fromEntries(Object.entries(types).filter(([name]) => reached.has(name)));
  return json;
}
